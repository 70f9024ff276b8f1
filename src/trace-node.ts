// Node: the tracing hook publishes to node:diagnostics_channel. Subscribe with
// `diagnostics_channel.subscribe("vmdev:nic:transmit", (ev) => …)`; the
// channel names are in docs/observability.md. Installed by the Node entry.
import diagnosticsChannel from "node:diagnostics_channel";
import { setTracer } from "./trace.js";

/** Publish vmdev's trace events to node:diagnostics_channel (the Node entry calls this once). */
export function installDiagnosticsChannel(): void {
  setTracer({ channel: (name) => diagnosticsChannel.channel(name) });
}
