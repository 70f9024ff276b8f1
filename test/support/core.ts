// Test helpers: VM cores on the debug build (assertions on, unchecked behaviour off).
import { readFileSync } from "node:fs";
import { VmCore, type ForeignRam } from "../../src/index.js";
import type { VmdevExports, VmdevDebugExports } from "../../src/generated/exports.js";

/** A VM core on the debug build: its exports include the debug-only probes (assembly/debug.ts). */
export type DebugCore = VmCore & { readonly exports: VmdevExports & VmdevDebugExports };

let debugModule: WebAssembly.Module | undefined;

/** The debug wasm module, compiled once per test file. */
export function debugWasm(): WebAssembly.Module {
  debugModule ??= new WebAssembly.Module(readFileSync(new URL("../../build/vmdev.debug.wasm", import.meta.url)));
  return debugModule;
}

export async function newCore(ramBytes: number, extra: { foreign?: ForeignRam; holes?: Array<[number, number]> } = {}): Promise<DebugCore> {
  return (await VmCore.create({ module: debugWasm(), variant: "debug", ramBytes, ...extra })) as DebugCore;
}

/** A foreign guest RAM in a plain ArrayBuffer, recording write notifications. */
export class FakeEmulatorRam implements ForeignRam {
  readonly bytes: Uint8Array;
  readonly notified: Array<[number, number]> = [];
  failNext = false;
  constructor(size: number) { this.bytes = new Uint8Array(size); }
  read(gpa: number, dst: Uint8Array): boolean {
    if (this.failNext) { this.failNext = false; return false; }
    dst.set(this.bytes.subarray(gpa, gpa + dst.length));
    return true;
  }
  write(gpa: number, src: Uint8Array): boolean {
    if (this.failNext) { this.failNext = false; return false; }
    this.bytes.set(src, gpa);
    return true;
  }
  written(gpa: number, len: number): void { this.notified.push([gpa, len]); }
}

/** Deterministic PRNG (mulberry32) so property tests can print and replay their seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed for a property test: VMDEV_SEED from the environment, or a fresh one. */
export function testSeed(): number {
  const env = process.env.VMDEV_SEED;
  return env ? Number(env) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}
