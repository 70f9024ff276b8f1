// Loading vmdev.wasm: compile the module once, instantiate it per VM.
//
// Memory: the module imports its linear memory. With SharedArrayBuffer (Node,
// cross-origin-isolated pages) it is a shared WebAssembly.Memory, so vCPU
// workers can instantiate the same module over the same memory and reach guest
// RAM and the dirty bitmap directly (see docs/architecture.md, "Threads").
// Without it the host uses the unshared build and keeps everything on one thread.

import * as loader from "@assemblyscript/loader";
import type { VmdevExports } from "./generated/exports.js";

export type WasmVariant = "release" | "debug" | "unshared";

/** Where each variant lives, relative to this file (src/ and dist/ are siblings of build/). */
export const WASM_FILES: Record<WasmVariant, string> = {
  release: "vmdev.wasm",
  debug: "vmdev.debug.wasm",
  unshared: "vmdev.unshared.wasm",
};

/** Largest linear memory the module declares (4 GiB, in 64 KiB pages). */
export const MAX_WASM_PAGES = 65536;

export function isSharedVariant(v: WasmVariant): boolean {
  return v !== "unshared";
}

/** Accessors for guest RAM that lives in an embedding emulator's memory (foreign placement). */
export interface ForeignRam {
  /** Copy guest bytes at `gpa` into `dst`. Return false if the range cannot be read. */
  read(gpa: number, dst: Uint8Array): boolean;
  /** Copy `src` into guest RAM at `gpa`. Return false if the range cannot be written. */
  write(gpa: number, src: Uint8Array): boolean;
  /** Called after every device write, e.g. to invalidate JIT-compiled code for the range. */
  written?(gpa: number, len: number): void;
}

export interface InstantiateOptions {
  memory: WebAssembly.Memory;
  foreign?: ForeignRam;
}

export interface VmdevWasm {
  readonly exports: VmdevExports;
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
}

/** A memory for one VM. Shared memories need a maximum; 4 GiB leaves room for 3.75 GiB of RAM. */
export function createMemory(shared: boolean): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: 2, maximum: MAX_WASM_PAGES, shared });
}

export async function instantiate(module: WebAssembly.Module, opts: InstantiateOptions): Promise<VmdevWasm> {
  const { memory, foreign } = opts;
  const view = (ptr: number, len: number) => new Uint8Array(memory.buffer, ptr, len);
  const env = {
    memory,
    guest_read(gpa: number, dst: number, len: number): number {
      if (!foreign) return 1;
      try { return foreign.read(gpa >>> 0, view(dst >>> 0, len >>> 0)) ? 0 : 1; } catch { return 1; }
    },
    guest_write(gpa: number, src: number, len: number): number {
      if (!foreign) return 1;
      try { return foreign.write(gpa >>> 0, view(src >>> 0, len >>> 0)) ? 0 : 1; } catch { return 1; }
    },
    guest_written(gpa: number, len: number): void {
      try { foreign?.written?.(gpa >>> 0, len >>> 0); } catch { /* a notify hook must not unwind through wasm */ }
    },
  };
  const { exports } = await loader.instantiate<Record<string, unknown>>(module, { env });
  return { exports: exports as unknown as VmdevExports, memory, module };
}
