// The external network backends as a Machine config names them, the same for
// every NIC model (`pci.0.3.0.backend=...`):
//
//   relay:ws://HOST:PORT/PATH   a WebSocket Ethernet relay (relay.ts; wss:// too)
//   vde:/path/to/switch.ctl     a VDE switch through vde_plug (vde.ts; any vde_plug URL after "vde:")

import { relayUrl } from "./relay.js";

/** An external backend named in config. */
export type ExternalBackendSpec = { kind: "relay"; url: string } | { kind: "vde"; socket: string };

/** What the config error says the value may be. */
export const EXTERNAL_BACKEND_FORMS = "relay:ws://HOST:PORT/ or vde:SOCKET";

/** Parse a `relay:` or `vde:` backend value; null if it is neither (or malformed). */
export function parseExternalBackend(v: string): ExternalBackendSpec | null {
  if (v.startsWith("relay:")) {
    const url = relayUrl(v.slice("relay:".length));
    return url ? { kind: "relay", url } : null;
  }
  if (v.startsWith("vde:")) {
    const socket = v.slice("vde:".length);
    // vde_plug takes one argument: no empty one, no option.
    return socket !== "" && !socket.startsWith("-") && !/[\0\n]/.test(socket) ? { kind: "vde", socket } : null;
  }
  return null;
}
