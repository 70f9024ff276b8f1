// A hang detector for a guest that keeps executing: progress is a string of
// the counters that move while the guest works (frames, console lines); the
// guest is hung when it stays the same while the guest runs `budget`
// instructions and at least `minMs` of wall time pass. The budget is in guest
// instructions because a busy host stretches the wall time of every
// instruction, while a hung guest still runs its kernel (timers, retransmits).

export class StallWatch {
  private lastProgress: string;
  private lastChangeMs: number;
  private lastCounter: number;
  /** Guest instructions since the progress last moved. */
  sinceChange = 0;
  /** Guest instructions since the watch started. */
  total = 0;

  constructor(progress: string, counter: number, nowMs: number, public budget: number, readonly minMs: number) {
    this.lastProgress = progress;
    this.lastCounter = counter >>> 0;
    this.lastChangeMs = nowMs;
  }

  /**
   * Take a sample. `counter` is the guest's 32-bit instruction counter, sampled
   * often enough that it cannot wrap twice between samples. Returns how long
   * (ms) the progress has been frozen when that is a hang, else null.
   */
  sample(progress: string, counter: number, nowMs: number): number | null {
    const c = counter >>> 0;
    const d = (c - this.lastCounter) >>> 0;
    this.lastCounter = c;
    this.sinceChange += d;
    this.total += d;
    if (progress !== this.lastProgress) {
      this.lastProgress = progress;
      this.lastChangeMs = nowMs;
      this.sinceChange = 0;
      return null;
    }
    const frozenMs = nowMs - this.lastChangeMs;
    return this.sinceChange > this.budget && frozenMs >= this.minMs ? frozenMs : null;
  }
}
