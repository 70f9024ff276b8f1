// The client side of the control channel (src/control/server.ts): one request,
// its streamed events (a trace) and its answer.

import { createConnection } from "node:net";

/** Longest answer line accepted (a machine's full dump is the largest). */
export const MAX_ANSWER = 256 << 20;

/** The server's answer to one request. */
export interface ControlAnswer { ok: boolean; result?: unknown; error?: string }

/**
 * Send `request` (an object with `cmd`) to the control socket at `path`;
 * `onEvent` gets each streamed event. Resolves with the answer; rejects if
 * the socket cannot be reached or closes before answering.
 */
export function controlRequest(path: string, request: Record<string, unknown>, onEvent?: (event: unknown) => void): Promise<ControlAnswer> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = "", settled = false;
    const done = (f: () => void) => { if (settled) return; settled = true; sock.destroy(); f(); };
    sock.setEncoding("utf8");
    sock.once("connect", () => sock.write(JSON.stringify({ id: 1, ...request }) + "\n"));
    sock.on("data", (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { event?: unknown; ok?: boolean; result?: unknown; error?: string };
        try { msg = JSON.parse(line) as typeof msg; } catch { done(() => reject(new Error(`control ${path}: not JSON: ${line.slice(0, 80)}`))); return; }
        if ("event" in msg) { onEvent?.(msg.event); continue; }
        done(() => resolve({ ok: msg.ok === true, result: msg.result, error: msg.error }));
        return;
      }
      if (buf.length > MAX_ANSWER) done(() => reject(new Error(`control ${path}: answer longer than ${MAX_ANSWER} bytes`)));
    });
    sock.once("error", (e) => done(() => reject(new Error(`control ${path}: ${e.message}`))));
    sock.once("close", () => done(() => reject(new Error(`control ${path}: closed before answering`))));
  });
}
