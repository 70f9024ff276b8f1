// What the lifecycle test and its hammer worker (lifecycle-hammer.worker.ts) share.
import type { SharedVm } from "../../src/index.js";

export const H = { READY: 0, GONE: 1, CALLS: 2 } as const;

export interface HammerJob {
  shared: SharedVm;
  sync: SharedArrayBuffer;
  model: "virtio-net" | "e1000" | "ne2k";
  handle: number;
  /** Calls to make after GONE was seen (each must be refused). */
  after: number;
  /** Instead: exactly this many rounds of the probes on a device that stays, then stop. */
  rounds?: number;
}

export interface HammerResult {
  admitted: number;
  refused: number;
  /** Calls started after GONE that were admitted (must be 0), refused, and writes (no answer). */
  lateAdmitted: number;
  lateRefused: number;
  lateWrites: number;
  /** Results neither the device's answer nor the refusal (must be empty). */
  odd: string[];
  /** Queue notifications the device admitted. */
  notifies: number;
}

