import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * The files that boot a real guest (v86, Chromium) run for tens of seconds
 * each and are most of the suite's time: they start first, so the two
 * workers share them and the short files fill in around them instead of one
 * long file running alone at the end. The order otherwise is vitest's own.
 */
class GuestFilesFirst extends BaseSequencer {
  async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const heavy = (f: TestSpecification) => /\/test\/(v86|browser)\//.test(f.moduleId.replace(/\\/g, "/"));
    return [...sorted.filter(heavy), ...sorted.filter((f) => !heavy(f))];
  }
}

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Watchdogs against hangs only: CI machines are shared, and a test that takes 20 s on a quiet one
    // can take three times as long on a busy one. Tests assert on events, never on these.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: "forks",
    // One file at a time. Two workers roughly halve the suite's time, but on clean-clone runs with two
    // workers the MPSC case of test/rings/threads.test.ts hung (the 180 s watchdog) twice while a
    // real-guest file ran beside it, and never alone or beside CPU hogs; until that is understood
    // the suite runs files one after another.
    maxWorkers: 1,
    sequence: { sequencer: GuestFilesFirst },
  },
});
