import { describe, it, expect } from "vitest";
import { ConfigTree } from "../../src/config/tree.js";
import { Machine } from "../../src/machine/machine.js";
import { debugWasm } from "../support/core.js";

describe("machine smoke", () => {
  it("runs, write-locks, resumes", async () => {
    const c = new ConfigTree();
    c.set("memory.size", "4M"); c.set("cpus", "2");
    const m = await Machine.create(c, { module: debugWasm(), variant: "debug" });
    m.core.dirty.enable();
    await new Promise((r) => setTimeout(r, 100));
    const t = performance.now();
    const release = await m.writeLock();
    const lat = performance.now() - t;
    const h1 = m.ramHash();
    await new Promise((r) => setTimeout(r, 20));
    expect(m.ramHash()).toBe(h1);
    release();
    await new Promise((r) => setTimeout(r, 50));
    expect(m.ramHash()).not.toBe(h1);
    console.log(lat, m.vcpuStats(), m.core.dirty.count());
    await m.destroy();
  });
});
