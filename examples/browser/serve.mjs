// A static server for the demo page (node:http only). It serves, from this
// checkout:
//   /                 examples/browser/index.html (and the page's own .js/.css)
//   /dist/browser/    the browser bundle (npm run build)
//   /build/           the wasm builds
//   /v86/             v86's browser build (node_modules/v86/build)
//   /guest/           the Debian i386 guest (node scripts/fetch-guest.mjs → .cache/guest)
// and nothing else: every path is resolved inside one of those folders.
//
//   node examples/browser/serve.mjs [--port N] [--host ADDR]   (default 127.0.0.1, port 8086; 0 picks a free one)
//
// It prints "vmdev demo: http://HOST:PORT/" once it listens.
import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { extname, join, relative, isAbsolute } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** URL prefix → folder of this checkout. */
const MOUNTS = [
  ["/dist/browser/", join(root, "dist/browser")],
  ["/build/", join(root, "build")],
  ["/v86/", join(root, "node_modules/v86/build")],
  ["/guest/", join(root, ".cache/guest")],
  ["/", join(root, "examples/browser")],
];

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css",
  ".wasm": "application/wasm", ".json": "application/json", ".map": "application/json",
};

/** The file a request path names, or null when it is outside every mount or not a file. */
export function resolvePath(pathname) {
  let decoded;
  try { decoded = decodeURIComponent(pathname); } catch { return null; }
  if (decoded.includes("\0")) return null;
  if (decoded === "/") decoded = "/index.html";
  for (const [prefix, dir] of MOUNTS) {
    if (!decoded.startsWith(prefix)) continue;
    const file = join(dir, decoded.slice(prefix.length));
    const rel = relative(dir, file);
    if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) return null;
    try { if (!statSync(file).isFile()) return null; } catch { return null; }
    return file;
  }
  return null;
}

/** Start the server; resolves with its URL and a close function. */
export function serve({ port = 8086, host = "127.0.0.1" } = {}) {
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url ?? "/", "http://localhost");
    const file = req.method === "GET" || req.method === "HEAD" ? resolvePath(pathname) : null;
    if (!file) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${pathname}\n`);
      return;
    }
    const size = statSync(file).size;
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "content-length": size, "cache-control": "no-cache" });
    if (req.method === "HEAD") { res.end(); return; }
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const addr = server.address();
      const shown = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
      resolve({ url: `http://${shown}:${addr.port}/`, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const opt = (name, fallback) => { const i = args.indexOf(name); return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback; };
  const port = Number(opt("--port", "8086"));
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port ${opt("--port")}: want 0..65535`);
    process.exit(2);
  }
  for (const [need, hint] of [["dist/browser/vmdev.js", "npm run build"], ["node_modules/v86/build/libv86.mjs", "npm install"], [".cache/guest/guest.json", "node scripts/fetch-guest.mjs"]]) {
    try { statSync(join(root, need)); } catch { console.error(`warning: ${need} is missing (${hint}); the page needs it`); }
  }
  const { url } = await serve({ port, host: opt("--host", "127.0.0.1") });
  console.log(`vmdev demo: ${url}`);
}
