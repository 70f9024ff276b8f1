// The relay backend in a real browser, on the browser's own WebSocket: a
// page served on loopback puts a host port on a hub relay; a Node backend on
// the same relay answers its frame, after the relay slips in a text message
// (counted, dropped). Needs Debian's chromium, as the other browser tests.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import type { Browser } from "playwright-core";
import { chromiumAvailable, launchChromium } from "../support/chromium.js";
import { RelayBackend } from "../../src/net/backends/relay.js";
import { NODE_WEBSOCKET } from "../../src/net/backends/node.js";
import { Status } from "../../src/status.js";
import { startRelayHub, type RelayHub } from "../support/relay-hub.js";

const haveChromium = chromiumAvailable("browser relay test");

const root = new URL("../..", import.meta.url).pathname;
const types: Record<string, string> = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".map": "application/json" };

describe.runIf(haveChromium)("relay backend in a browser", () => {
  let server: Server;
  let base = "";
  let browser: Browser;
  let hub: RelayHub;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const path = url.pathname === "/" ? "/test/browser/relay-page.html" : url.pathname;
      const file = normalize(join(root, path));
      if (!file.startsWith(root) || !existsSync(file)) { res.writeHead(404).end(); return; }
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    hub = await startRelayHub();
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await hub?.close();
    await new Promise((r) => server?.close(r));
  });

  it("sends a frame through the browser's WebSocket and takes the answer; a text message is counted, not delivered", async () => {
    // The Node end answers each frame with one whose byte 14 is one more, after a text message from the relay.
    const peer = {
      onTransmit: null as ((f: Uint8Array) => void) | null,
      receive(f: Uint8Array): number {
        const r = f.slice();
        r[14] = f[14] + 1;
        hub.sendAll("not a frame");
        peer.onTransmit!(r);
        return Status.OK;
      },
    };
    const node = RelayBackend.connect(peer, hub.url, { WebSocket: NODE_WEBSOCKET });
    try {
      await Promise.all([node.when("up"), hub.waitClients(1)]);
      const page = await browser.newPage();
      await page.goto(`${base}/?relay=${encodeURIComponent(hub.url)}`);
      await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null, { timeout: 120_000 });
      const result = await page.evaluate(() => (window as unknown as { __result: unknown }).__result);
      await page.close();
      expect(result).toEqual({
        got: [[0x88, 0xb5, 2, 0, 0, 0]],
        counters: { txFrames: 1, rxFrames: 1, rxText: 1, rxInvalid: 1 },
        state: "closed",
        detached: true,
      });
      expect(node.counters()).toMatchObject({ rxFrames: 1, txFrames: 1, rxText: 1 });
    } finally {
      await node.close();
    }
  });
});
