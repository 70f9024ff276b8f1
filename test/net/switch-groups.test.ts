// The switch's group table against a reference model: random joins, leaves,
// all-multicast changes, ports leaving and coming back, on a table that
// fills (ERR_FULL) and empties again, so deletions close gaps across
// collision chains. After every step each port's groups are compared, and
// from time to time a multicast frame is sent through a guest driver and
// the ports it reached are compared with who the model says joined.
import { describe, expect, it } from "vitest";
import { Status } from "../../src/status.js";
import { VirtualSwitch } from "../../src/net/switch.js";
import { NetDefs } from "../../src/generated/constants.js";
import { formatMac } from "../../src/net/mac.js";
import { newCore, rng, testSeed } from "../support/core.js";
import { frame, ne2kNic, type Nic } from "./switch-lan.js";
import { Ne2k } from "../../src/devices/ne2k/device.js";
import { Ne2kDriver, IrqLine, pciPortIo } from "../../src/guest/ne2k/index.js";

/** An NE2000 port with its guest promiscuous for groups: the switch alone decides what reaches it. */
function port(core: Awaited<ReturnType<typeof newCore>>, i: number): Nic {
  const line = new IrqLine();
  const mac = `52:54:00:00:02:${i.toString(16).padStart(2, "0")}`;
  const dev = Ne2k.create(core, { mac, interrupts: line, name: `p${i}` });
  dev.pci!.configWrite(4, 2, 1);
  const drv = new Ne2kDriver(pciPortIo(dev.pci!));
  drv.probe(); drv.init();
  drv.setAllMulti(true);
  return {
    dev, mac, host: [],
    send: (f) => { drv.transmit(f); drv.service(); },
    rx: () => { for (let k = 0; k < 64 && line.level; k++) drv.service(); return drv.takeReceived(); },
    interrupted: () => line.level,
    acceptGroups: () => {},
  };
}

describe("switch group table (model-based)", () => {
  it("joins, leaves, all-multicast and ports leaving agree with a reference model; frames follow it", async () => {
    const seed = testSeed();
    try {
      const r = rng(seed);
      const int = (n: number) => Math.floor(r() * n);
      const core = await newCore(1 << 20);
      const sw = VirtualSwitch.create(core);
      const ports = [0, 1, 2, 3].map((i) => port(core, i));
      for (const p of ports) sw.attach(p.dev, { reconcile: false });
      // A pool larger than the table, so it fills; the low bits vary most, as real group addresses do.
      const pool = Array.from({ length: 400 }, (_, i) => formatMac(Uint8Array.of(0x01, 0x00, 0x5e, int(4), i >> 8, i & 0xff)));
      const member = ports.map(() => new Set<string>());
      const all = ports.map(() => true);
      const attached = ports.map(() => true);
      const live = () => new Set(member.flatMap((s) => [...s])).size;
      let refused = 0, frames = 0, maxLive = 0, detaches = 0;
      for (let step = 0; step < 3000; step++) {
        if (step === 1500 && live() < NetDefs.SWITCH_MAX_GROUPS) {
          // The random first half did not fill the table (seed-dependent): fill it from an attached port, so the
          // second half always starts from a full table.
          let k = attached.indexOf(true);
          if (k < 0) { k = 0; sw.attach(ports[0].dev, { reconcile: false }); attached[0] = true; all[0] = true; }
          for (const x of pool) {
            if (live() >= NetDefs.SWITCH_MAX_GROUPS) break;
            if (member.some((m) => m.has(x))) continue;
            expect(sw.join(ports[k].dev, x), `top-up: join ${x}`).toBe(true);
            member[k].add(x);
          }
          maxLive = Math.max(maxLive, live());
          const fresh = pool.find((x) => !member.some((m) => m.has(x)))!;
          expect(sw.join(ports[k].dev, fresh), `top-up: join ${fresh} at a full table`).toBe(false);
          refused++;
        }
        const i = int(ports.length), p = ports[i], g = pool[int(pool.length)];
        // The first half fills the table, the second empties it.
        const joinP = step < 1500 ? 0.8 : 0.3;
        const op = r();
        if (!attached[i]) {
          if (op < 0.2) { sw.attach(p.dev, { reconcile: false }); attached[i] = true; all[i] = true; }
          continue;
        }
        if (op < joinP) {
          const full = live() >= NetDefs.SWITCH_MAX_GROUPS && !member.some((s) => s.has(g));
          const ok = sw.join(p.dev, g);
          expect(ok, `step ${step}: join ${g} by p${i}`).toBe(!full);
          if (ok) member[i].add(g); else refused++;
          maxLive = Math.max(maxLive, live());
          // The table just filled: a fresh group is refused (whether the random walk tries one while full depends on the seed).
          if (live() === NetDefs.SWITCH_MAX_GROUPS && refused === 0) {
            const fresh = pool.find((x) => !member.some((m) => m.has(x)))!;
            expect(sw.join(p.dev, fresh), `step ${step}: join ${fresh} at a full table`).toBe(false);
            refused++;
          }
        } else if (op < 0.95) {
          // Leave a group it has (mostly) or any.
          const mine = [...member[i]];
          const lg = mine.length && r() < 0.8 ? mine[int(mine.length)] : g;
          sw.leave(p.dev, lg);
          member[i].delete(lg);
        } else if (op < 0.995) {
          all[i] = r() < 0.5;
          sw.setAllMulticast(p.dev, all[i]);
        } else {
          sw.detach(p.dev);
          detaches++;
          attached[i] = false;
          member[i].clear();
        }
        for (let k = 0; k < ports.length; k++) {
          if (!attached[k]) { expect(core.exports.nsw_port_switch(ports[k].dev.kind, ports[k].dev.handle)).toBe(0); continue; }
          const m = sw.membership(ports[k].dev);
          expect([...m.groups].sort(), `step ${step}: groups of p${k}`).toEqual([...member[k]].sort());
          expect(m.all).toBe(all[k]);
          expect(m.counters.groupsJoined).toBe(BigInt(member[k].size));
        }
        if (step % 25 === 0) {
          // A frame to a group some port joined (or a random one), from a random attached port.
          const from = ports.findIndex((_, k) => attached[k] && k === (step / 25) % ports.length);
          if (from < 0) continue;
          const joined = member.flatMap((s) => [...s]);
          const dst = joined.length && r() < 0.8 ? joined[int(joined.length)] : pool[int(pool.length)];
          ports[from].send(frame(dst, ports[from].mac, step));
          frames++;
          for (let k = 0; k < ports.length; k++) {
            const want = k !== from && attached[k] && (all[k] || member[k].has(dst));
            expect(ports[k].rx().length, `step ${step}: frame to ${dst} from p${from} at p${k}`).toBe(want ? 1 : 0);
          }
        }
      }
      // The run reached the interesting states.
      expect(maxLive, "most groups live at once").toBe(NetDefs.SWITCH_MAX_GROUPS);
      expect(refused, "joins refused at a full table").toBeGreaterThan(0);
      expect(live()).toBeLessThan(NetDefs.SWITCH_MAX_GROUPS / 2);
      expect(frames).toBeGreaterThan(50);
      expect(detaches, "ports detached").toBeGreaterThan(0);
    } catch (err) {
      throw new Error(`seed ${seed} (replay: VMDEV_SEED=${seed}): ${(err as Error).message}`);
    }
  }, 120_000);

  it("a full table empties back to zero through leaves and a detach, and fills again", async () => {
    const core = await newCore(1 << 20);
    const sw = VirtualSwitch.create(core);
    const a = ne2kNic(core);
    sw.attach(a.dev, { reconcile: false });
    const g = (i: number) => formatMac(Uint8Array.of(0x01, 0x00, 0x5e, 0, i >> 8, i & 0xff));
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < NetDefs.SWITCH_MAX_GROUPS; i++) expect(sw.join(a.dev, g(i + round))).toBe(true);
      expect(sw.join(a.dev, g(1000))).toBe(false);
      if (round === 1) { sw.detach(a.dev); sw.attach(a.dev, { reconcile: false }); }
      else for (let i = 0; i < NetDefs.SWITCH_MAX_GROUPS; i++) sw.leave(a.dev, g(i + round));
      expect(sw.membership(a.dev).groups).toEqual([]);
    }
    expect(core.exports.nsw_join(sw.id, a.dev.kind, a.dev.handle, 0x0100, 0x5e000001)).toBe(Status.OK);
  });
});
