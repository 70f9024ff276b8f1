// vnet_memory_bytes: what a virtio-net device can take in linear memory, the
// figure a machine sizes its budget with. Pinned against what a device really
// takes over create and first use (scratch, scatter-gather list, deferred
// receive list, switch tables), for both transports and the extremes of every
// parameter, and against vnet_create's own argument checks.
import { describe, it, expect } from "vitest";
import { Status, VirtioNet, VirtualSwitch } from "../../../src/index.js";
import { Rig, F, frame, OWN_MAC } from "./rig.js";
import { newCore } from "../../support/core.js";

const BASE = [F.VERSION_1, F.MAC, F.STATUS, F.MTU, F.CTRL_VQ];
const used = (r: Rig) => r.core.exports.vm_memory_used() >>> 0;
// Each allocation it stands for is counted with the worst alignment padding; the
// real padding depends on where the bump pointer is, so the figure may exceed
// the real use by at most one pad (≤ 15 bytes here) per allocation (fewer than 17).
const PAD_SLACK = 17 * 15;

describe("vnet_memory_bytes", () => {
  const cases: Array<{ transport: "pci" | "mmio"; queuePairs: number; mtu: number; queueSize: number; backlogFrames: number }> = [
    { transport: "pci", queuePairs: 1, mtu: 1500, queueSize: 256, backlogFrames: 256 },
    { transport: "mmio", queuePairs: 1, mtu: 1500, queueSize: 256, backlogFrames: 256 },
    { transport: "pci", queuePairs: 8, mtu: 65500, queueSize: 32768, backlogFrames: 3 },
    { transport: "mmio", queuePairs: 2, mtu: 68, queueSize: 2, backlogFrames: 65536 },
    { transport: "pci", queuePairs: 1, mtu: 9000, queueSize: 1024, backlogFrames: 1000 },
  ];

  it("bounds what a device takes at create and on first use, within alignment padding", async () => {
    for (const c of cases) {
      const core = await newCore(16 << 20);
      const estimate = VirtioNet.memoryBytes(core, c);
      const before = core.exports.vm_memory_used() >>> 0;
      const r = await Rig.create(c.transport, c, 0, core);
      // First use: a linked device's transmit walks a chain (scatter-gather list)
      // and defers its receive publish (deferred list); a switch carves its tables.
      VirtioNet.connect(r.dev, r.dev);
      r.init(BASE, { size: Math.min(64, c.queueSize) });
      r.postRx(0, 1, 2048);
      r.send(frame(OWN_MAC, 60)); // fits the smallest MTU
      expect(r.takeUsed(0).length, JSON.stringify(c)).toBe(1);
      VirtualSwitch.create(core);
      const took = used(r) - before;
      expect(took, JSON.stringify(c)).toBeLessThanOrEqual(estimate);
      expect(estimate - took, JSON.stringify(c)).toBeLessThanOrEqual(PAD_SLACK);
    }
  });

  it("the backlog is most of it: frames × slot, the slot a frame of the MTU rounded to 16 bytes", async () => {
    const core = await newCore(1 << 20);
    const at = (mtu: number, backlogFrames: number) => VirtioNet.memoryBytes(core, { transport: "pci", mtu, backlogFrames });
    // A frame of mtu + 18 header bytes and a 4-byte length, rounded up to 16.
    expect(at(1500, 1001) - at(1500, 1000)).toBe(1536);
    expect(at(65500, 2) - at(65500, 1)).toBe(65536);
    expect(at(65500, 65536)).toBeGreaterThan(2 ** 32);
  });

  it("refuses exactly the parameters vnet_create refuses", async () => {
    const ok = { transport: 1, pairs: 1, mtu: 1500, queueSize: 256, backlog: 256 };
    const bad: Array<Partial<typeof ok>> = [
      { transport: 0 }, { transport: 3 }, { pairs: 0 }, { pairs: 9 }, { mtu: 67 }, { mtu: 65501 },
      { queueSize: 0 }, { queueSize: 3 }, { queueSize: 65536 }, { backlog: 0 }, { backlog: 65537 },
    ];
    const good: Array<Partial<typeof ok>> = [{ transport: 2 }, { pairs: 8 }, { mtu: 68 }, { mtu: 65500 }, { queueSize: 1 }, { queueSize: 32768 }, { backlog: 1 }];
    for (const d of [...bad, ...good]) {
      const core = await newCore(1 << 20);
      const p = { ...ok, ...d };
      const size = core.exports.vnet_memory_bytes(p.transport, p.pairs, p.mtu, p.queueSize, p.backlog);
      const h = core.exports.vnet_create(p.transport, 0x5254, 0x00123456, p.pairs, p.mtu, p.queueSize, p.backlog);
      if (bad.includes(d)) {
        expect(size, JSON.stringify(d)).toBe(BigInt(-Status.ERR_INVALID_ARG));
        expect(h, JSON.stringify(d)).toBe(-Status.ERR_INVALID_ARG);
      } else {
        expect(size, JSON.stringify(d)).toBeGreaterThan(0n);
        expect(h, JSON.stringify(d)).toBeGreaterThan(0);
      }
    }
  });
});
