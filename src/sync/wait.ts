// Drivers for the waits of the lock algorithms. Each algorithm is a generator
// that checks its condition and yields "wait until word `index` is no longer
// `value`, for at most `ms`"; it owns its deadline and returns a status
// ("timeout" when the deadline passes). The same algorithm runs blocking in a
// worker (runSync: Atomics.wait) and non-blocking on the main thread
// (runAsync: Atomics.waitAsync, or timer polling where that is missing).

/** One wait an algorithm asks for. */
export interface WaitRequest { index: number; value: number; ms: number }

/** An algorithm over shared words: yields waits, returns its result. */
export type WaitAlgorithm<T> = Generator<WaitRequest, T, void>;

/** Milliseconds, monotonic. */
export const now = (): number => performance.now();

/** Run an algorithm in a worker, blocking between checks. Never call on a browser main thread. */
export function runSync<T>(i32: Int32Array, alg: WaitAlgorithm<T>): T {
  let r = alg.next();
  while (!r.done) {
    const w = r.value;
    Atomics.wait(i32, w.index, w.value, Math.max(0, w.ms));
    r = alg.next();
  }
  return r.value;
}

type WaitAsyncFn = (a: Int32Array, i: number, v: number, ms: number) => { async: boolean; value: Promise<string> | string };
const nativeWaitAsync = (Atomics as unknown as { waitAsync?: WaitAsyncFn }).waitAsync;

/** Resolve when word `index` is no longer `value`, or after `ms` — without blocking the thread. */
export function waitAsync(i32: Int32Array, index: number, value: number, ms: number): Promise<void> {
  if (nativeWaitAsync) {
    const r = nativeWaitAsync(i32, index, value, Math.max(0, ms));
    return r.async ? (r.value as Promise<string>).then(() => undefined) : Promise.resolve();
  }
  // Polling fallback (browsers without Atomics.waitAsync).
  const end = now() + ms;
  return new Promise((resolve) => {
    const tick = () => (Atomics.load(i32, index) !== value || now() >= end ? resolve() : setTimeout(tick, 1));
    tick();
  });
}

/** Run an algorithm on the main thread; every wait is asynchronous. */
export async function runAsync<T>(i32: Int32Array, alg: WaitAlgorithm<T>): Promise<T> {
  let r = alg.next();
  let quick = 0;
  while (!r.done) {
    const w = r.value;
    // A word that keeps changing resolves every wait at once (microtasks only):
    // yield to the event loop now and then so timers and I/O still run.
    if (Atomics.load(i32, w.index) !== w.value && ++quick % 64 === 0) await new Promise((res) => setTimeout(res, 0));
    else await waitAsync(i32, w.index, w.value, w.ms);
    r = alg.next();
  }
  return r.value;
}
