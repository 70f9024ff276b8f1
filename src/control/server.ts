// The control channel of a running `vmdev run` / `vmdev migrate`: a local
// socket (a Unix socket path, or a named pipe `\\.\pipe\NAME` on Windows)
// speaking newline-delimited JSON, one request per line, answered in order.
//
//   → {"id":1,"cmd":"status"}              ← {"id":1,"ok":true,"result":{…}}
//   → {"id":2,"cmd":"counters"}            every device's countersJSON()
//   → {"id":3,"cmd":"inspect","device":"virtio-net0"}   inspectDevice()'s dump
//   → {"id":4,"cmd":"trace","device":"virtio-net0","ms":500,"count":100,"events":["transmit"]}
//        ← {"id":4,"event":{…}} per event, then {"id":4,"ok":true,"result":{"events":n,"dropped":d,"ended":"count"}}
//   → {"id":5,"cmd":"cancel"}              migrate: cancel (the source runs on)
//
// A line that is not JSON is read as words: `inspect virtio-net0`,
// `trace virtio-net0 500`. docs/observability.md is the reference.
//
// The peer is untrusted like every peer: lines are bounded (MAX_LINE), as are
// the connections, a trace's length and count, and what a trace queues on a
// slow reader (past MAX_QUEUED bytes events are dropped and counted). The
// socket file is made owner-only; a stale one (no listener) is replaced, a
// live one refused.

import { createConnection, createServer, type Server, type Socket } from "node:net";
import { chmodSync, unlinkSync } from "node:fs";

/** Longest request line (bytes); a longer one closes the connection. */
export const MAX_LINE = 64 * 1024;
/** Connections served at once. */
export const MAX_CONNECTIONS = 8;
/** Longest trace (ms) and most events one trace streams. */
export const MAX_TRACE_MS = 600_000;
export const MAX_TRACE_EVENTS = 1_000_000;
/** Bytes a connection may have waiting to be written before trace events are dropped. */
export const MAX_QUEUED = 1 << 20;

/** What the control channel reaches: the running command supplies it. */
export interface ControlTarget {
  /** The command's status (JSON-safe). */
  status(): unknown;
  /** Device names the channel knows (for errors and `devices`). */
  deviceNames(): string[];
  /** Counters of every device by name, JSON-safe. */
  counters(): Record<string, unknown>;
  /** A device's live dump (JSON-safe), or null for an unknown name. */
  inspect(device: string): Promise<unknown | null>;
  /** The EventTarget a trace of `device` listens on and the event types it offers, or null; its events must give JSON (a `toJSON`). */
  events(device: string): { target: EventTarget; types: readonly string[] } | null;
  /** Cancel what the command is doing (migrate); absent where nothing can be cancelled. */
  cancel?(): { cancelled: boolean; detail: string };
}

/** A listening control channel. */
export interface ControlServer {
  readonly path: string;
  /** Requests answered so far (a test or a status line may show it). */
  readonly requests: number;
  close(): Promise<void>;
}

interface Request { id: unknown; cmd: string; device?: string; ms?: number; count?: number; events?: string[] }

/** A line as a request: JSON, or words (`trace NAME [ms] [count]`). */
export function parseRequest(line: string): Request {
  const t = line.trim();
  if (t.startsWith("{")) {
    const v = JSON.parse(t) as unknown;
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("a request is a JSON object");
    const o = v as Record<string, unknown>;
    if (typeof o.cmd !== "string") throw new Error("a request needs \"cmd\" (a string)");
    const num = (k: string) => { if (o[k] !== undefined && (typeof o[k] !== "number" || !Number.isFinite(o[k] as number) || (o[k] as number) < 0)) throw new Error(`"${k}": want a number ≥ 0`); return o[k] as number | undefined; };
    if (o.device !== undefined && typeof o.device !== "string") throw new Error("\"device\": want a string");
    if (o.events !== undefined && !(Array.isArray(o.events) && o.events.every((e) => typeof e === "string"))) throw new Error("\"events\": want an array of strings");
    return { id: o.id ?? null, cmd: o.cmd, device: o.device as string | undefined, ms: num("ms"), count: num("count"), events: o.events as string[] | undefined };
  }
  const [cmd = "", device, ms, count] = t.split(/\s+/);
  const n = (s: string | undefined, k: string) => { if (s === undefined) return undefined; const x = Number(s); if (!Number.isFinite(x) || x < 0) throw new Error(`${k} ${s}: want a number ≥ 0`); return x; };
  return { id: null, cmd, device, ms: n(ms, "ms"), count: n(count, "count") };
}

/** Listen on `path` for control connections to `target`. */
export async function startControlServer(path: string, target: ControlTarget): Promise<ControlServer> {
  const live = new Set<Socket>();
  let requests = 0;
  const server = createServer({ allowHalfOpen: false }, (sock) => {
    if (live.size >= MAX_CONNECTIONS) { sock.end(JSON.stringify({ id: null, ok: false, error: `busy: ${MAX_CONNECTIONS} connections already` }) + "\n"); return; }
    live.add(sock);
    sock.on("close", () => live.delete(sock));
    sock.on("error", () => sock.destroy());
    serve(sock, target, () => { requests++; });
  });
  await listenReplacingStale(server, path);
  // Local control only: the owner may connect (a named pipe has no mode).
  if (process.platform !== "win32") chmodSync(path, 0o600);
  return {
    path,
    get requests() { return requests; },
    close: () => new Promise<void>((resolve) => {
      for (const s of live) s.destroy();
      server.close(() => resolve());
    }),
  };
}

async function listenReplacingStale(server: Server, path: string): Promise<void> {
  const tryListen = () => new Promise<void>((resolve, reject) => {
    const onErr = (e: Error) => { server.off("listening", onOk); reject(e); };
    const onOk = () => { server.off("error", onErr); resolve(); };
    server.once("error", onErr);
    server.once("listening", onOk);
    server.listen(path);
  });
  try { await tryListen(); return; } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE" || process.platform === "win32") throw e;
  }
  // Something is at the path: a live server keeps it; a socket nobody listens on is left over from a crash.
  const alive = await new Promise<boolean>((resolve) => {
    const c = createConnection(path);
    c.once("connect", () => { c.destroy(); resolve(true); });
    c.once("error", () => resolve(false));
  });
  if (alive) throw new Error(`--control ${path}: another process listens there`);
  unlinkSync(path);
  await tryListen();
}

/** One connection: read lines, answer each in order (a trace holds the line until it ends). */
function serve(sock: Socket, target: ControlTarget, counted: () => void): void {
  let buf = "";
  let chain = Promise.resolve();
  const send = (v: unknown) => { if (!sock.destroyed) sock.write(JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? x.toString() : x)) + "\n"); };
  const tooLong = () => {
    buf = "";
    // After what is already queued is answered: the error line goes out, then the connection closes.
    chain = chain.then(() => { send({ id: null, ok: false, error: `request line longer than ${MAX_LINE} bytes` }); sock.end(() => sock.destroy()); });
    sock.pause();
  };
  sock.setEncoding("utf8");
  sock.on("data", (chunk: string) => {
    if (sock.isPaused()) return;
    buf += chunk;
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.length > MAX_LINE) { tooLong(); return; }
      if (line.trim() === "") continue;
      chain = chain.then(() => answer(line, target, send, sock)).then(counted, () => {});
    }
    if (buf.length > MAX_LINE) tooLong();
  });
}

async function answer(line: string, target: ControlTarget, send: (v: unknown) => void, sock: Socket): Promise<void> {
  let req: Request;
  try { req = parseRequest(line); } catch (e) { send({ id: null, ok: false, error: `bad request: ${(e as Error).message}` }); return; }
  const { id } = req;
  const fail = (error: string) => send({ id, ok: false, error });
  const needDevice = (): string | null => {
    if (req.device === undefined || req.device === "") { fail(`${req.cmd}: name a device (${target.deviceNames().join(", ")})`); return null; }
    return req.device;
  };
  try {
    switch (req.cmd) {
      case "status": send({ id, ok: true, result: target.status() }); return;
      case "devices": send({ id, ok: true, result: target.deviceNames() }); return;
      case "counters": send({ id, ok: true, result: target.counters() }); return;
      case "inspect": {
        const name = needDevice();
        if (name === null) return;
        const dump = await target.inspect(name);
        if (dump === null) { fail(`inspect: no device ${JSON.stringify(name)} (devices: ${target.deviceNames().join(", ")})`); return; }
        send({ id, ok: true, result: dump });
        return;
      }
      case "trace": {
        const name = needDevice();
        if (name === null) return;
        const src = target.events(name);
        if (src === null) { fail(`trace: ${JSON.stringify(name)} has no events (devices with events: ${target.deviceNames().filter((d) => target.events(d) !== null).join(", ") || "none"})`); return; }
        const types = req.events ?? [...src.types];
        const unknown = types.filter((t) => !src.types.includes(t));
        if (unknown.length) { fail(`trace: unknown event type ${unknown.join(", ")} (${src.types.join(", ")})`); return; }
        send({ id, ok: true, result: await trace(sock, id, src, types, Math.min(req.ms ?? 1000, MAX_TRACE_MS), Math.min(req.count ?? MAX_TRACE_EVENTS, MAX_TRACE_EVENTS), send) });
        return;
      }
      case "cancel": {
        if (!target.cancel) { fail("cancel: nothing to cancel here"); return; }
        send({ id, ok: true, result: target.cancel() });
        return;
      }
      default: fail(`unknown command ${JSON.stringify(req.cmd)} (status, devices, counters, inspect DEVICE, trace DEVICE [ms] [count], cancel)`);
    }
  } catch (e) {
    fail(`${req.cmd}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Stream events of `types` until `count` were sent, `ms` passed, or the peer left. */
function trace(sock: Socket, id: unknown, src: NonNullable<ReturnType<ControlTarget["events"]>>, types: string[], ms: number, count: number,
  send: (v: unknown) => void): Promise<{ events: number; dropped: number; ended: "count" | "time" | "closed" }> {
  return new Promise((resolve) => {
    let sent = 0, dropped = 0;
    const ac = new AbortController();
    const end = (ended: "count" | "time" | "closed") => {
      if (ac.signal.aborted) return;
      ac.abort();
      clearTimeout(timer);
      sock.off("close", onClose);
      resolve({ events: sent, dropped, ended });
    };
    const onEvent = (ev: Event) => {
      if (ac.signal.aborted) return;
      // A slow reader costs events, never unbounded memory.
      if (sock.writableLength > MAX_QUEUED) { dropped++; return; }
      send({ id, event: ev });
      if (++sent >= count) end("count");
    };
    const onClose = () => end("closed");
    const timer = setTimeout(() => end("time"), ms);
    sock.once("close", onClose);
    if (count === 0) { end("count"); return; }
    for (const t of types) src.target.addEventListener(t, onEvent, { signal: ac.signal });
  });
}
