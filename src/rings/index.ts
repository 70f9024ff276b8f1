// Packet rings: buffer pools, netmap-style rings, element queues, TX queues, backend ports, frame arrays.
export { RingObject, RING_COUNTER_NAMES } from "./object.js";
export { RingPool, type RingPoolOptions, type BufferHolder } from "./pool.js";
export { NetmapRing, type NetmapRingOptions, type RingDirection, type SlotMode, type SyncResult } from "./netmap.js";
export { NetmapRingUser, type NetmapSlot } from "./netmap-user.js";
export { ElementQueue, type ElementQueueOptions, type QueueMode } from "./queue.js";
export { TxQueue, TXQ_VARIANT, fnv1a, type TxQueueVariant, type TxQueueOptions, type SubmitOptions, type TxLogRecord } from "./txq.js";
export { RingPort, type RingPortOptions, type PortMode } from "./port.js";
export { FrameArrayWriter, FrameBatch, frameRecordBytes } from "./frame-array.js";
/** The ring library's constants (assembly/rings/defs.ts), as generated. */
export { RingsDefs as RingDefs } from "../generated/constants.js";
