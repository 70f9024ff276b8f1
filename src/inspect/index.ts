// The inspector: saved-state envelopes decoded into readable dumps, offline
// (`vmdev inspect BLOB`) or live (inspectDevice on a running device or Machine).
export { inspectBlob, walkFields, DecoderTable, PREVIEW_BYTES, MAX_DEPTH, type InspectOptions } from "./inspect.js";
export { defaultDecoders } from "./table.js";
export { inspectDevice, type Inspectable, type LiveInspectOptions, type LiveDeviceDump } from "./live.js";
export { formatInspection, inspectionJson } from "./format.js";
export { Fields, DecodeError, part, type PartError } from "./fields.js";
export type { DeviceDecoder, DecodeContext, GuestReader, InspectedEnvelope, InspectedHeader, RawField } from "./types.js";
