// The driver model's own mechanics, checked without a device: the wrap-safe
// event test, ring layout, free-running indices across the 16-bit wrap, and
// descriptor recycling. A device then gets tested through a driver that is
// itself pinned.
import { describe, expect, it } from "vitest";
import { newCore } from "../support/core.js";
import { vringNeedEvent, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE } from "../../src/guest/virtio/defs.js";
import { GuestAllocator, GuestRam } from "../../src/guest/virtio/guest-ram.js";
import { allocQueue, SplitQueue } from "../../src/guest/virtio/split-queue.js";
import { walkPciCaps } from "../../src/guest/virtio/transport.js";
import type { PciFunction } from "../../src/index.js";

describe("vringNeedEvent (virtio 1.2 §2.7.10)", () => {
  it("fires exactly when the new index passes the event index, across the wrap", () => {
    expect(vringNeedEvent(5, 6, 5)).toBe(true); // moved past 5
    expect(vringNeedEvent(5, 5, 4)).toBe(false); // reached 5, not past
    expect(vringNeedEvent(5, 10, 0)).toBe(true); // batch crossing 5
    expect(vringNeedEvent(10, 9, 0)).toBe(false);
    expect(vringNeedEvent(0xffff, 0, 0xfffe)).toBe(true); // across the wrap
    expect(vringNeedEvent(0xfffe, 0xffff, 0xfffe)).toBe(true);
    expect(vringNeedEvent(1, 0, 0xfff0)).toBe(false);
    expect(vringNeedEvent(3, 3, 3)).toBe(false); // no movement
  });
  it("agrees with a brute-force definition on random triples", () => {
    let x = 12345;
    for (let i = 0; i < 20000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const old = x & 0xffff, step = (x >>> 16) & 0x3ff, ev = (old + ((x >>> 5) & 0x7ff) - 0x100) & 0xffff;
      const now = (old + step) & 0xffff;
      // Entries old..now-1 are new; the event asks for notice once entry `ev` is among them.
      let crossed = false;
      for (let k = 0; k < step; k++) if (((old + k) & 0xffff) === ev) crossed = true;
      expect(vringNeedEvent(ev, now, old)).toBe(crossed);
    }
  });
});

describe("SplitQueue (driver side)", () => {
  it("lays out aligned rings, writes chains readable-first, and recycles descriptors across the index wrap", async () => {
    const core = await newCore(1 << 20);
    const ram = new GuestRam(core, { trackDirty: false });
    const alloc = new GuestAllocator(4096, 1 << 20);
    const layout = allocQueue(alloc, 8);
    expect(layout.desc % 16).toBe(0);
    expect(layout.avail % 2).toBe(0);
    expect(layout.used % 4).toBe(0);
    const q = new SplitQueue<number>(ram, layout, true, alloc);
    // Play the device: complete every chain in order by writing the used ring directly.
    // Plain checks in the loop (70 000 rounds to cross the 16-bit wrap), one expect at the end.
    let usedIdx = 0;
    const bad: string[] = [];
    for (let n = 0; n < 70000 && bad.length === 0; n++) {
      const head = q.add([{ addr: 0x8000, len: 12, write: false }, { addr: 0x9000, len: 100, write: true }], n);
      if (head < 0) bad.push(`round ${n}: queue full`);
      const slot = (q.availIdx - 1) & 0xffff;
      if (ram.r16(layout.avail + 2) !== q.availIdx) bad.push(`round ${n}: avail idx`);
      if (ram.r16(layout.avail + 4 + 2 * (slot % 8)) !== head) bad.push(`round ${n}: ring entry`);
      const d = layout.desc + 16 * head;
      const next = ram.r16(d + 14);
      if (ram.r16(d + 12) !== VIRTQ_DESC_F_NEXT || ram.r16(layout.desc + 16 * next + 12) !== VIRTQ_DESC_F_WRITE) bad.push(`round ${n}: flags`);
      ram.w32(layout.used + 4 + 8 * (usedIdx % 8), head);
      ram.w32(layout.used + 8 + 8 * (usedIdx % 8), 50);
      usedIdx = (usedIdx + 1) & 0xffff;
      ram.w16(layout.used + 2, usedIdx);
      const e = q.pop();
      if (!e || e.id !== head || e.len !== 50 || e.token !== n) bad.push(`round ${n}: used entry ${JSON.stringify(e)}`);
      if (q.free !== 8) bad.push(`round ${n}: ${q.free} free`);
    }
    expect(bad).toEqual([]);
    expect(q.availIdx).toBe(70000 & 0xffff);
  });

  it("puts an indirect chain in one descriptor pointing at a 16-byte-per-entry table", async () => {
    const core = await newCore(1 << 20);
    const ram = new GuestRam(core);
    const alloc = new GuestAllocator(4096, 1 << 20);
    const layout = allocQueue(alloc, 4);
    const q = new SplitQueue<number>(ram, layout, false, alloc);
    const head = q.add([{ addr: 0x100, len: 12, write: false }, { addr: 0x200, len: 60, write: false }, { addr: 0x300, len: 1, write: true }], 7, true);
    expect(q.free).toBe(3);
    const d = layout.desc + 16 * head;
    expect(ram.r16(d + 12)).toBe(VIRTQ_DESC_F_INDIRECT);
    expect(ram.r32(d + 8)).toBe(48);
    const table = Number(ram.r64(d));
    expect(ram.r16(table + 12)).toBe(VIRTQ_DESC_F_NEXT);
    expect(ram.r16(table + 14)).toBe(1);
    expect(ram.r16(table + 32 + 12)).toBe(VIRTQ_DESC_F_WRITE);
    expect(Number(ram.r64(table + 32))).toBe(0x300);
  });

  it("asks for a kick from avail_event with EVENT_IDX and from NO_NOTIFY without", async () => {
    const core = await newCore(1 << 20);
    const ram = new GuestRam(core);
    const alloc = new GuestAllocator(4096, 1 << 20);
    const l = allocQueue(alloc, 16);
    const q = new SplitQueue<number>(ram, l, true, alloc);
    ram.w16(l.used + 4 + 8 * 16, 0); // avail_event = 0: device wants to hear when entry 0 arrives
    q.add([{ addr: 0x100, len: 1, write: false }], 0);
    expect(q.kickNeeded()).toBe(true);
    q.add([{ addr: 0x100, len: 1, write: false }], 1);
    expect(q.kickNeeded()).toBe(false); // avail_event still 0: already told
    ram.w16(l.used + 4 + 8 * 16, 5);
    for (let i = 0; i < 3; i++) q.add([{ addr: 0x100, len: 1, write: false }], 2 + i);
    expect(q.kickNeeded()).toBe(false); // idx 2..4 added, 5 not yet
    q.add([{ addr: 0x100, len: 1, write: false }], 9);
    expect(q.kickNeeded()).toBe(true); // entry 5 added
    expect([q.kicks, q.kicksSuppressed]).toEqual([2, 2]);
    const l2 = allocQueue(alloc, 4);
    const q2 = new SplitQueue<number>(ram, l2, false, alloc);
    ram.w16(l2.used, 1);
    q2.add([{ addr: 0x100, len: 1, write: false }], 0);
    expect(q2.kickNeeded()).toBe(false);
    ram.w16(l2.used, 0);
    q2.add([{ addr: 0x100, len: 1, write: false }], 1);
    expect(q2.kickNeeded()).toBe(true);
  });
});

describe("walkPciCaps", () => {
  it("refuses a capability list that loops", () => {
    const cfg = new Uint8Array(256);
    cfg[0x06] = 0x10; cfg[0x34] = 0x40;
    cfg[0x40] = 0x09; cfg[0x41] = 0x50;
    cfg[0x50] = 0x09; cfg[0x51] = 0x40;
    const fn: PciFunction = {
      configRead: (o, w) => { let v = 0; for (let i = 0; i < w; i++) v |= cfg[o + i] << (8 * i); return v >>> 0; },
      configWrite: () => {}, bars: [], barRead: () => 0xffffffff, barWrite: () => {},
    };
    expect(() => walkPciCaps(fn)).toThrow(/loops/);
  });
});
