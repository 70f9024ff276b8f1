// Guest RAM and the dirty bitmap are shared with worker threads through a
// shared WebAssembly.Memory: a worker's writes are visible on the main thread
// and dirty-marked, and marks from several threads racing a harvest are never lost.
import { describe, it, expect } from "vitest";
import { newCore } from "../support/core.js";
import { runTsWorker } from "../support/workers.js";

const runWorker = (data: unknown) => runTsWorker(new URL("../support/guest-writer.worker.ts", import.meta.url), data);

describe("threads", () => {
  it("a worker's writes are visible and dirty-marked on the main thread", async () => {
    const core = await newCore(16 << 20);
    core.dirty.enable();
    const pages = [0, 5, 4095];
    await runWorker({ shared: core.shareable(), pages, tag: 0xabc000, rounds: 1 });
    for (const p of pages) expect(core.guest.readU32(p * 4096)).toBe(0xabc000);
    expect(core.dirty.harvest()).toEqual([{ page: 0, count: 1 }, { page: 5, count: 1 }, { page: 4095, count: 1 }]);
  });

  it("marks from two workers racing repeated harvests are never lost", async () => {
    const core = await newCore(16 << 20);
    core.dirty.enable();
    const a = Array.from({ length: 64 }, (_, i) => i * 3);
    const b = Array.from({ length: 64 }, (_, i) => i * 3 + 1);
    const seen = new Set<number>();
    const done = Promise.all([
      runWorker({ shared: core.shareable(), pages: a, tag: 1, rounds: 300 }),
      runWorker({ shared: core.shareable(), pages: b, tag: 2, rounds: 300 }),
    ]);
    let finished = false;
    done.then(() => { finished = true; });
    while (!finished) {
      core.dirty.harvestEach((page, count) => { for (let i = 0; i < count; i++) seen.add(page + i); });
      await new Promise((r) => setTimeout(r, 1));
    }
    await done;
    core.dirty.harvestEach((page, count) => { for (let i = 0; i < count; i++) seen.add(page + i); });
    expect([...seen].sort((x, y) => x - y)).toEqual([...a, ...b].sort((x, y) => x - y));
    // The last value each worker wrote is there.
    expect(core.guest.readU32(a[10] * 4096 + (299 % 1024) * 4)).toBe(1 + 299);
  });
});
