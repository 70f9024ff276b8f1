// The browser bundle in a real browser: headless Chromium loads
// dist/browser/vmdev.js from a page served on loopback. A cross-origin-isolated
// page (COOP/COEP) gets the shared-memory build; a plain page the unshared one.
// Needs Debian's chromium (CI installs it); without it the suite says so and skips.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import { existsSync, readFileSync } from "node:fs";
import { extname, join, normalize } from "node:path";
import type { Browser } from "playwright-core";
import { chromiumAvailable, launchChromium } from "../support/chromium.js";

const haveChromium = chromiumAvailable("browser tests");

const root = new URL("../..", import.meta.url).pathname;
const types: Record<string, string> = { ".js": "text/javascript", ".wasm": "application/wasm", ".html": "text/html", ".map": "application/json" };

describe.runIf(haveChromium)("browser bundle", () => {
  let server: Server;
  let base = "";
  let browser: Browser;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://localhost");
      const isolated = url.searchParams.get("isolated") === "1";
      const path = url.pathname === "/" ? "/test/browser/page.html" : url.pathname;
      const file = normalize(join(root, path));
      if (!file.startsWith(root) || !existsSync(file)) { res.writeHead(404).end(); return; }
      const headers: Record<string, string> = { "content-type": types[extname(file)] ?? "application/octet-stream" };
      if (isolated || req.headers.referer?.includes("isolated=1")) {
        headers["cross-origin-opener-policy"] = "same-origin";
        headers["cross-origin-embedder-policy"] = "require-corp";
        headers["cross-origin-resource-policy"] = "same-origin";
      }
      res.writeHead(200, headers).end(readFileSync(file));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
  });

  async function run(query: string, path = "") {
    const page = await browser.newPage();
    await page.goto(`${base}/${path}${query}`);
    await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null, { timeout: 120_000 });
    const result = await page.evaluate(() => (window as unknown as { __result: unknown }).__result);
    await page.close();
    return result as Record<string, unknown>;
  }

  it("runs the shared-memory build on a cross-origin-isolated page", async () => {
    expect(await run("?isolated=1")).toEqual({ variant: "release", shared: true, value: 0xcafe, oob: true, dirty: [{ page: 3, count: 1 }] });
  });

  it("falls back to the unshared build on a plain page", async () => {
    expect(await run("")).toEqual({ variant: "unshared", shared: false, value: 0xcafe, oob: true, dirty: [{ page: 3, count: 1 }] });
  });

  it("locates the wasm: the bundle's default, a fetch promise, bytes, a URL; a missing file names itself and its URL", async () => {
    expect(await run("", "test/browser/locate.html")).toEqual({
      byDefault: 1, fromFetch: 2, fromBytes: true, fromUrl: true,
      missing: {
        isWasmLoadError: true, name: "WasmLoadError", file: "vmdev.unshared.wasm", url: `${base}/missing/vmdev.unshared.wasm`,
        message: `vmdev: cannot load vmdev.unshared.wasm from ${base}/missing/vmdev.unshared.wasm: HTTP 404 Not Found`,
      },
    });
  });
});
