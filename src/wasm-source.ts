// Where a vmdev .wasm comes from, for every entry point: a compiled module, its
// bytes, a fetch Response (or its promise), or a URL to fetch. Nothing here
// needs Node; the Node loader reads file: URLs and paths itself first.

/** A vmdev module, or where to get one. */
export type WasmSource =
  | WebAssembly.Module
  | ArrayBuffer
  | ArrayBufferView
  | Response
  | PromiseLike<Response>
  | URL
  | string;

/** The module could not be fetched or compiled; names the file and where it was looked for. */
export class WasmLoadError extends Error {
  override readonly name = "WasmLoadError";
  constructor(
    /** The file wanted ("vmdev.wasm", ...). */
    readonly file: string,
    /** Where it was looked for (a URL, a path, or "(bytes)" / "(Response)" for what the caller passed). */
    readonly url: string,
    reason: string,
    options?: { cause?: unknown },
  ) {
    super(`vmdev: cannot load ${file} from ${url}: ${reason}`, options);
  }
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

function bytesOf(v: ArrayBuffer | ArrayBufferView): Uint8Array {
  return v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function isResponse(v: unknown): v is Response {
  return typeof Response !== "undefined" && v instanceof Response;
}

/** Compile a module's bytes; errors name `file` and `url` (where the bytes came from). */
export async function compileWasmBytes(bytes: Uint8Array, file: string, url: string): Promise<WebAssembly.Module> {
  // An HTML error page or a dev server's fallback answer is the usual wrong file: say so before the compiler does.
  if (bytes.length < 4 || WASM_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new WasmLoadError(file, url, `not a WebAssembly module (${bytes.length} bytes, first bytes ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ") || "none"})`);
  }
  try {
    return await WebAssembly.compile(bytes as Uint8Array<ArrayBuffer>);
  } catch (err) {
    throw new WasmLoadError(file, url, `does not compile: ${(err as Error).message}`, { cause: err });
  }
}

async function compileResponse(res: Response, file: string, url: string): Promise<WebAssembly.Module> {
  const where = res.url || url;
  if (!res.ok) throw new WasmLoadError(file, where, `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`);
  // compileStreaming needs the application/wasm type; without it (file servers that do not know .wasm) compile the bytes.
  if (typeof WebAssembly.compileStreaming === "function" && res.headers.get("content-type")?.split(";")[0].trim() === "application/wasm") {
    try {
      return await WebAssembly.compileStreaming(res);
    } catch (err) {
      throw new WasmLoadError(file, where, `does not compile: ${(err as Error).message}`, { cause: err });
    }
  }
  let bytes: ArrayBuffer;
  try { bytes = await res.arrayBuffer(); } catch (err) { throw new WasmLoadError(file, where, `reading the response failed: ${(err as Error).message}`, { cause: err }); }
  return compileWasmBytes(new Uint8Array(bytes), file, where);
}

/**
 * Compile `source` into a module. `file` names the wanted file in errors;
 * `base` resolves a relative string URL. Every failure is a WasmLoadError that
 * names the file and the URL.
 */
export async function compileWasmSource(source: WasmSource, file: string, base?: string | URL): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return compileWasmBytes(bytesOf(source), file, "(bytes)");
  if (isResponse(source)) return compileResponse(source, file, "(Response)");
  if (typeof source === "string" || source instanceof URL) {
    let url: string;
    try { url = new URL(source, base).href; } catch (err) { throw new WasmLoadError(file, String(source), "not a URL", { cause: err }); }
    let res: Response;
    try { res = await fetch(url); } catch (err) { throw new WasmLoadError(file, url, `fetch failed: ${(err as Error).message}`, { cause: err }); }
    return compileResponse(res, file, url);
  }
  if (source && typeof (source as PromiseLike<Response>).then === "function") {
    let res: Response;
    try { res = await source; } catch (err) { throw new WasmLoadError(file, "(Response)", `fetch failed: ${(err as Error).message}`, { cause: err }); }
    if (!isResponse(res)) throw new WasmLoadError(file, "(Response)", "the promise did not resolve to a Response");
    return compileResponse(res, file, "(Response)");
  }
  throw new WasmLoadError(file, String(source), "not a module, bytes, Response or URL");
}
