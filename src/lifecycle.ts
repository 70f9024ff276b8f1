// The host side of a device's lifecycle (assembly/core/lifecycle.ts): attach
// → open → close → detach, with a reference count per device that every
// entry point takes, on whichever thread calls it. A destroy closes the
// device at once (every later call on its handle is refused with
// ERR_BAD_HANDLE, or reads as a missing device); the wasm frees it only once
// no call holds it. When a call on another thread (a worker attached with
// VmCore.attach) still holds it, the wasm destroy answers ERR_MORE: this
// module waits for those calls to drain and finishes the free, so a device's
// `destroy()` returns with its handle and memory free in the usual case.
//
// Handles are reused by the next create of the same model. The host must
// stop every thread that was given a handle from using it before it creates
// the next device (a stale handle would name the new device): a destroyed
// device object refuses calls itself, and a machine unplug stops the
// device's traffic before the destroy.

import { Status, VmdevError } from "./status.js";

/** What a destroy came to: the device is freed, or closed and freed later (by its next create, or {@link finishDestroy}). */
export type DestroyResult = "freed" | "deferred";

/** How long a destroy waits for calls on other threads to leave the device, by default. */
export const DRAIN_WAIT_MS = 2000;

let nap: Int32Array | null = null;

/** A short sleep of this thread; false where the thread may not block (a browser's main thread, a page without SharedArrayBuffer). */
function pause(ms: number): boolean {
  try {
    nap ??= new Int32Array(new SharedArrayBuffer(4));
    Atomics.wait(nap, 0, 0, ms);
    return true;
  } catch { return false; }
}

/**
 * Run a model's wasm destroy (`destroy()` returns a Status) and, while it
 * answers ERR_MORE, wait for `inFlight()` to reach 0 and call it again, for
 * at most `waitMs`. ERR_BAD_HANDLE and other failures throw VmdevError.
 */
export function finishDestroy(what: string, destroy: () => number, inFlight: () => number, waitMs = DRAIN_WAIT_MS): DestroyResult {
  let s = destroy();
  const deadline = performance.now() + waitMs;
  let spins = 0;
  // Each round either frees the device or waits for a call that is bounded (one export call on another thread).
  while (s === Status.ERR_MORE) {
    if (inFlight() > 0) {
      if (performance.now() >= deadline) return "deferred";
      if (++spins > 64 && !pause(spins > 256 ? 1 : 0.05)) return "deferred";
      continue;
    }
    s = destroy();
  }
  if (s !== Status.OK) throw new VmdevError(s, what);
  return "freed";
}

/**
 * What a device detaches before it stops (switch ports, filter reconcilers,
 * backends that subscribed to it): callbacks run once, newest first, at the
 * start of the device's destroy(), while the device still answers.
 */
export class DetachHooks {
  private hooks: Array<() => void> = [];

  /** Run `fn` at destroy, before the device stops; returns a function that removes it. */
  add(fn: () => void): () => void {
    this.hooks.push(fn);
    return () => { const i = this.hooks.indexOf(fn); if (i >= 0) this.hooks.splice(i, 1); };
  }

  /** Run and forget every hook, newest first; a hook that throws stops neither the others nor the destroy: the first error is returned (null if none) for the destroy to throw once done. */
  run(): unknown {
    const hooks = this.hooks.reverse();
    this.hooks = [];
    let first: unknown = null;
    for (const h of hooks) { try { h(); } catch (err) { first ??= err; } }
    return first;
  }
}

/** The parts of a device's destroy, in the order {@link destroyInOrder} runs them. */
export interface DestroySteps {
  /** The device's detach hooks (run first, while it still answers). */
  hooks: DetachHooks;
  /** The host side's own teardown before the wasm destroy (forget peers, cancel timers, mark the object destroyed). */
  stop(): void;
  /** The wasm destroy of the handle (a Status) and its reference probe, for finishDestroy. */
  what: string;
  destroy(): number;
  inFlight(): number;
  /** After the free: what a removed function leaves (its interrupt line low). */
  after(): void;
  drainWaitMs?: number;
}

/** Destroy a device in lifecycle order: detach hooks, stop, the wasm destroy finished (finishDestroy), after; a hook's error is thrown once all ran. */
export function destroyInOrder(s: DestroySteps): DestroyResult {
  const hookErr = s.hooks.run();
  s.stop();
  const r = finishDestroy(s.what, () => s.destroy(), () => s.inFlight(), s.drainWaitMs);
  s.after();
  if (hookErr !== null) throw hookErr;
  return r;
}
