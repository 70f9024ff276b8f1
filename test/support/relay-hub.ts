// A WebSocket Ethernet relay on loopback, as v86 users run them (a hub:
// every binary message a client sends goes to every other client, as
// websockproxy/wsnic do between guests), with hooks to play a hostile relay:
// send any message to the clients, close them.
import { WebSocketServer, type WebSocket } from "ws";
import type { AddressInfo } from "node:net";

export interface RelayHub {
  /** ws://127.0.0.1:PORT/ */
  readonly url: string;
  /** Clients connected now, in order of connection. */
  readonly clients: WebSocket[];
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Binary messages received from clients, and how many went out to others. */
  readonly stats: { received: number; forwarded: number };
  /** Resolves once `n` clients are connected. */
  waitClients(n: number): Promise<void>;
  /** Send `data` to every client (binary for bytes, text for a string). */
  sendAll(data: Uint8Array | string): void;
  /** Close every client's connection (code 1001, going away). */
  dropAll(): void;
  close(): Promise<void>;
}

/** Start a hub relay on 127.0.0.1 (a free port). */
export async function startRelayHub(): Promise<RelayHub> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve, reject) => { wss.once("listening", resolve); wss.once("error", reject); });
  const clients: WebSocket[] = [];
  const stats = { received: 0, forwarded: 0 };
  let accepted = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const wake = () => { for (let i = waiters.length - 1; i >= 0; i--) if (clients.length >= waiters[i].n) { waiters[i].resolve(); waiters.splice(i, 1); } };
  wss.on("connection", (ws) => {
    accepted++;
    clients.push(ws);
    ws.on("message", (data, isBinary) => {
      if (!isBinary) return;
      stats.received++;
      for (const c of clients) if (c !== ws && c.readyState === c.OPEN) { c.send(data, { binary: true }); stats.forwarded++; }
    });
    ws.on("close", () => { const i = clients.indexOf(ws); if (i >= 0) clients.splice(i, 1); });
    wake();
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    clients,
    get accepted() { return accepted; },
    stats,
    waitClients: (n) => (clients.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    sendAll: (data) => { for (const c of clients) c.send(data, { binary: typeof data !== "string" }); },
    dropAll: () => { for (const c of [...clients]) c.close(1001, "going away"); },
    close: () => new Promise<void>((resolve) => {
      for (const c of clients) c.terminate();
      wss.close(() => resolve());
    }),
  };
}
