// Waiting for events in tests. A test waits for the event it is about (a
// counter moving, a state reached) and asserts on that; the time limit here is
// only a watchdog against hangs, generous enough for a busy CI machine, and
// never what a test proves.

/** Longest a test waits for an event before it calls it a hang. */
export const WATCHDOG_MS = 30_000;

/** Resolve once `cond()` holds (polled every 2 ms); reject after `ms`, naming `what`. */
export async function until(cond: () => boolean, what = "a condition", ms = WATCHDOG_MS): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
