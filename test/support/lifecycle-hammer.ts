// What the lifecycle test and its hammer worker (lifecycle-hammer.worker.ts) share.
import type { SharedVm } from "../../src/index.js";

export const H = { EPOCH: 0, CALLS: 1, DONE: 2, ADMITTED: 3, STOP: 4 } as const;

export interface HammerJob {
  shared: SharedVm;
  sync: SharedArrayBuffer;
  model: "virtio-net" | "e1000" | "ne2k";
  handle: number;
  /** Exactly this many rounds of the probes on a device that stays, then stop; without it, run until STOP. */
  rounds?: number;
}

export interface HammerResult {
  admitted: number;
  refused: number;
  /** Calls started in an odd epoch (the device destroyed) that were admitted (must be 0), refused, and writes (no answer). */
  lateAdmitted: number;
  lateRefused: number;
  lateWrites: number;
  /** Results neither the device's answer nor the refusal (must be empty). */
  odd: string[];
  /** Queue notifications the device admitted. */
  notifies: number;
}

