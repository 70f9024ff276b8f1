// Locating the wasm: every kind of `wasm` option of the Node and browser
// loaders, and the errors when the file is not where it was looked for, each
// naming the file and the URL or path. The browser entry runs here too (Node
// has fetch, Response and WebAssembly.compileStreaming); test/browser checks it
// in Chromium.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { createServer, type Server } from "node:http";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadModule as loadNode, createVmCore as createNode, WasmLoadError } from "../../src/index.js";
import { loadModule as loadBrowser, createVmCore as createBrowser } from "../../src/browser.js";

const buildDir = new URL("../../build/", import.meta.url);
const unshared = readFileSync(new URL("vmdev.unshared.wasm", buildDir));

async function works(vm: { guest: { writeU32(a: number, v: number): void; readU32(a: number): number } }): Promise<void> {
  vm.guest.writeU32(0x1000, 0xfeed);
  expect(vm.guest.readU32(0x1000)).toBe(0xfeed);
}

async function loadError(p: Promise<unknown>): Promise<WasmLoadError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(WasmLoadError);
  return err as WasmLoadError;
}

describe("Node loader: wasm option", () => {
  it("takes bytes, a module, a file: URL and a path", async () => {
    const mod = await loadNode("unshared", { wasm: unshared });
    expect(mod).toBeInstanceOf(WebAssembly.Module);
    expect(await loadNode("unshared", { wasm: mod })).toBe(mod);
    await works(await createNode({ ramBytes: 1 << 20, variant: "unshared", wasm: new URL("vmdev.unshared.wasm", buildDir) }));
    await works(await createNode({ ramBytes: 1 << 20, variant: "unshared", wasm: fileURLToPath(new URL("vmdev.unshared.wasm", buildDir)) }));
  });

  it("names the file and the path when the file is missing or not wasm", async () => {
    const missing = fileURLToPath(new URL("nowhere/vmdev.wasm", buildDir));
    const e1 = await loadError(loadNode("release", { wasm: missing }));
    expect(e1.file).toBe("vmdev.wasm");
    expect(e1.url).toBe(missing);
    expect(e1.message).toBe(`vmdev: cannot load vmdev.wasm from ${missing}: no such file (run \`npm run build\`?)`);
    const e2 = await loadError(loadNode("release", { wasm: new TextEncoder().encode("<!doctype html>") }));
    expect(e2.message).toMatch(/^vmdev: cannot load vmdev\.wasm from \(bytes\): not a WebAssembly module \(15 bytes, first bytes 3c 21 64 6f\)$/);
  });
});

describe("browser loader over HTTP (in Node)", () => {
  let server: Server;
  let base = "";
  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = req.url ?? "/";
      if (path === "/assets/vmdev.unshared.wasm") res.writeHead(200, { "content-type": "application/wasm" }).end(unshared);
      else if (path === "/plain/vmdev.unshared.wasm") res.writeHead(200, { "content-type": "application/octet-stream" }).end(unshared);
      else if (path === "/spa/vmdev.unshared.wasm") res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>app</title>");
      else res.writeHead(404, "Not Found").end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    base = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("loads from a base folder, a URL, a Response and a fetch promise", async () => {
    await works(await createBrowser({ ramBytes: 1 << 20, variant: "unshared", base: `${base}/assets/` }));
    await works(await createBrowser({ ramBytes: 1 << 20, variant: "unshared", wasm: new URL(`${base}/assets/vmdev.unshared.wasm`) }));
    await works(await createBrowser({ ramBytes: 1 << 20, variant: "unshared", wasm: await fetch(`${base}/assets/vmdev.unshared.wasm`) }));
    await works(await createBrowser({ ramBytes: 1 << 20, variant: "unshared", wasm: fetch(`${base}/assets/vmdev.unshared.wasm`) }));
    // A server that does not know .wasm (no application/wasm): compiled from the bytes.
    await works(await createBrowser({ ramBytes: 1 << 20, variant: "unshared", base: `${base}/plain/` }));
  });

  it("regression_missing_wasm_error_names_file_and_url: a 404 names the file, the URL and the status", async () => {
    const e = await loadError(loadBrowser("unshared", { base: `${base}/missing/` }));
    expect(e.message).toBe(`vmdev: cannot load vmdev.unshared.wasm from ${base}/missing/vmdev.unshared.wasm: HTTP 404 Not Found`);
    expect(e.url).toBe(`${base}/missing/vmdev.unshared.wasm`);
    // The old form of the second argument (the folder's URL) still works, and a failure is not cached.
    const again = await loadError(loadBrowser("unshared", `${base}/missing/`));
    expect(again).not.toBe(e);
    const e2 = await loadError(loadBrowser("unshared", { wasm: fetch(`${base}/nothing.wasm`) }));
    expect(e2.message).toBe(`vmdev: cannot load vmdev.unshared.wasm from ${base}/nothing.wasm: HTTP 404 Not Found`);
  });

  it("an HTML page served in place of the wasm is named as such", async () => {
    const e = await loadError(loadBrowser("unshared", { base: `${base}/spa/` }));
    expect(e.message).toMatch(/^vmdev: cannot load vmdev\.unshared\.wasm from http:\/\/127\.0\.0\.1:\d+\/spa\/vmdev\.unshared\.wasm: not a WebAssembly module \(33 bytes, first bytes 3c 21 64 6f\)$/);
  });

  it("the browser bundle's default is the file next to the module (new URL(..., import.meta.url))", async () => {
    // Here the module is src/browser.ts, so the default points at src/vmdev.unshared.wasm, which is not there.
    const e = await loadError(loadBrowser("unshared"));
    expect(e.url).toBe(new URL("../../src/vmdev.unshared.wasm", import.meta.url).href);
    expect(e.file).toBe("vmdev.unshared.wasm");
  });
});
