// Opening an external backend in Node: the relay gets the `ws` package's
// WebSocket (Node 20 has no global one; it bounds incoming messages, which a
// browser's cannot), VDE spawns vde_plug. What the Machine's NIC factories
// call for `backend=relay:` and `backend=vde:`.

import { WebSocket as NodeWebSocket } from "ws";
import type { FrameEndpoint } from "../host-link.js";
import type { BackendPortOptions, NetworkBackend } from "./port.js";
import { RelayBackend, type RelaySocketConstructor } from "./relay.js";
import { VdeBackend } from "./vde.js";
import type { ExternalBackendSpec } from "./spec.js";

/** The `ws` package's WebSocket as the relay takes it. */
export const NODE_WEBSOCKET = NodeWebSocket as unknown as RelaySocketConstructor;

/** Put `nic` on the backend `spec` names (the NIC's `onTransmit` is taken). */
export function openBackend(nic: FrameEndpoint, spec: ExternalBackendSpec, opts: BackendPortOptions = {}): NetworkBackend {
  if (spec.kind === "relay") return RelayBackend.connect(nic, spec.url, { WebSocket: NODE_WEBSOCKET, ...opts });
  return VdeBackend.connect(nic, spec.socket, opts);
}
