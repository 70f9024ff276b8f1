// Netmap-style rings: the ownership rules (netmap(4)), buffer swaps, the
// mode-switch hooks, a reference model, and a backend that writes anything.
import { describe, it, expect } from "vitest";
import { RingPool, NetmapRing, NetmapRingUser, Status, RingDefs as D, frameRecordBytes, type VmCore } from "../../src/index.js";
import { newCore, rng, testSeed } from "../support/core.js";
import { MemoryGuard } from "./support.js";

const pattern = (len: number, seed: number) => Uint8Array.from({ length: len }, (_, i) => (i * 13 + seed * 7 + 1) & 0xff);

async function setup(dir: "tx" | "rx", slots = 8, buffers = 64, bufferSize = 2048) {
  const core = await newCore(1 << 20);
  const pool = RingPool.create(core, { buffers, bufferSize });
  const ring = NetmapRing.create(core, { pool, slots, direction: dir });
  const user = NetmapRingUser.attach(core, ring.handle);
  return { core, pool, ring, user };
}

describe("netmap ring: ownership", () => {
  it("a TX ring starts with every slot but one the backend's; each slot holds its own pool buffer", async () => {
    const { pool, user, ring } = await setup("tx");
    expect([user.head, user.cur, user.tail]).toEqual([0, 0, 7]);
    expect(user.owned()).toBe(7);
    const bufs = Array.from({ length: 8 }, (_, i) => user.slot(i).buf);
    expect(new Set(bufs).size).toBe(8);
    for (const b of bufs) expect(pool.holder(b)).toBe("ring");
    expect(pool.count("ring")).toBe(8);
    expect(pool.count("free")).toBe(56);
    expect(ring.kring()).toEqual({ hwcur: 0, hwtail: 7, rhead: 0, rcur: 0, rtail: 7 });
  });

  it("TX: frames come out in order; the device gives the slots back (tail = hwcur - 1) and one slot stays empty", async () => {
    const { ring, user } = await setup("tx");
    const frames = Array.from({ length: 10 }, (_, i) => pattern(60 + i * 100, i));
    expect(user.send(frames)).toBe(7);
    expect(user.owned()).toBe(0);
    const r = ring.txsync();
    expect(r.status).toBe(Status.OK);
    expect(r.frames!.copies()).toEqual(frames.slice(0, 7));
    expect([user.head, user.tail]).toEqual([7, 6]);
    expect(user.owned()).toBe(7);
    expect(user.send(frames.slice(7))).toBe(3);
    expect(ring.txsync().frames!.copies()).toEqual(frames.slice(7));
    expect(ring.counters().frames).toBe(10n);
  });

  it("TX: a sync without new frames delivers nothing and changes nothing", async () => {
    const { ring, user } = await setup("tx");
    const before = ring.kring();
    expect(ring.txsync().count).toBe(0);
    expect(ring.kring()).toEqual(before);
    expect(user.tail).toBe(7);
  });

  it("RX: the device fills at most slots - 1, the backend releases by moving head", async () => {
    const { ring, user } = await setup("rx");
    expect(user.tail).toBe(0);
    const frames = Array.from({ length: 12 }, (_, i) => pattern(64 + i, i));
    expect(ring.rxsync(frames)).toBe(7);
    expect(user.tail).toBe(7);
    expect(ring.rxsync(frames.slice(7))).toBe(0); // the backend holds everything
    expect(user.receive(3)).toEqual(frames.slice(0, 3));
    expect(ring.rxsync(frames.slice(7))).toBe(3);
    expect(user.receive()).toEqual([...frames.slice(3, 7), ...frames.slice(7, 10)]);
    expect(ring.counters().frames).toBe(10n);
  });

  it("RX: a frame larger than a buffer is dropped and counted; the next one still lands", async () => {
    const { ring, user } = await setup("rx", 8, 16, 128);
    expect(ring.rxsync([pattern(129, 1), pattern(128, 2)])).toBe(2);
    expect(ring.counters().dropped).toBe(1n);
    expect(user.receive()).toEqual([pattern(128, 2)]);
  });

  it("directions are enforced: txsync on an RX ring and rxsync on a TX ring are refused", async () => {
    const { core, pool } = await setup("rx");
    const tx = NetmapRing.create(core, { pool, slots: 4, direction: "tx" });
    const rx = NetmapRing.create(core, { pool, slots: 4, direction: "rx" });
    expect(rx.txsync().status).toBe(Status.ERR_BAD_STATE);
    expect(tx.rxsync([pattern(60, 1)])).toBe(-Status.ERR_BAD_STATE);
  });
});

describe("netmap ring against a reference model", () => {
  it("TX: seeded random sends and syncs of random window sizes deliver exactly the model's frames", async () => {
    const seed = testSeed();
    const r = rng(seed);
    for (const slots of [2, 5, 16]) {
      const { ring, user } = await setup("tx", slots, 64, 512);
      const pending: Uint8Array[] = [];
      let seq = 0;
      for (let step = 0; step < 500; step++) {
        if (r() < 0.55) {
          const k = Math.floor(r() * slots);
          const frames = Array.from({ length: k }, () => pattern(1 + Math.floor(r() * 512), seq++));
          const free = slots - 1 - pending.length;
          expect(user.send(frames), `seed ${seed} slots ${slots} step ${step}`).toBe(Math.min(k, free));
          pending.push(...frames.slice(0, Math.min(k, free)));
        } else {
          const cap = Math.floor(r() * 2048);
          let fit = 0, used = 0;
          while (fit < pending.length && used + frameRecordBytes(pending[fit].length) <= cap) used += frameRecordBytes(pending[fit++].length);
          const out = ring.txsync(cap);
          expect(out.status).toBe(Status.OK);
          expect(out.frames!.copies(), `seed ${seed} slots ${slots} step ${step}`).toEqual(pending.splice(0, fit));
        }
        expect(user.owned(), `seed ${seed}`).toBe(slots - 1 - pending.length);
      }
      const c = ring.counters();
      expect(c.badHead + c.badCur + c.tailRepaired + c.badBufIndex + c.slotMismatch + c.badLen).toBe(0n);
    }
  });

  it("RX: seeded random deliveries and receives match the model; the backend never holds more than slots - 1", async () => {
    const seed = testSeed();
    const r = rng(seed);
    for (const slots of [2, 7, 32]) {
      const { ring, user } = await setup("rx", slots, 64, 512);
      const held: Uint8Array[] = [];
      let seq = 0;
      for (let step = 0; step < 500; step++) {
        if (r() < 0.5) {
          const frames = Array.from({ length: Math.floor(r() * 6) }, () => pattern(1 + Math.floor(r() * 512), seq++));
          const n = ring.rxsync(frames);
          expect(n, `seed ${seed} slots ${slots} step ${step}`).toBe(Math.min(frames.length, slots - 1 - held.length));
          held.push(...frames.slice(0, n));
        } else {
          const m = Math.floor(r() * 5);
          expect(user.receive(m), `seed ${seed} slots ${slots} step ${step}`).toEqual(held.splice(0, m));
        }
        expect(user.owned(), `seed ${seed}`).toBe(held.length);
      }
    }
  });
});

describe("netmap ring: buffer swaps (NS_BUF_CHANGED)", () => {
  it("TX: a backend sends from a buffer it holds and takes the slot's old buffer in exchange", async () => {
    const { ring, user, pool } = await setup("tx");
    const b = pool.alloc()!;
    expect(pool.holder(b)).toBe("user");
    const f = pattern(300, 9);
    pool.buffer(b).set(f);
    const old = user.slot(0).buf;
    user.setSlot(0, { buf: b, len: f.length, flags: D.NS_BUF_CHANGED });
    user.setHead(1);
    expect(ring.txsync().frames!.copies()).toEqual([f]);
    expect(pool.holder(b)).toBe("ring");
    expect(pool.holder(old)).toBe("user");
    expect(user.slot(0)).toMatchObject({ buf: b, flags: 0 });
    expect(ring.counters().swaps).toBe(1n);
    expect(pool.free(old)).toBe(Status.OK);
    expect(pool.free(old)).toBe(Status.ERR_INVALID_ARG);
  });

  it("forwarding in the wrong order is refused: an RX slot cannot take a TX slot's buffer the backend was never given", async () => {
    const core = await newCore(1 << 20);
    const pool = RingPool.create(core, { buffers: 32, bufferSize: 2048 });
    const rx = NetmapRing.create(core, { pool, slots: 8, direction: "rx" });
    const tx = NetmapRing.create(core, { pool, slots: 8, direction: "tx" });
    const ur = NetmapRingUser.attach(core, rx.handle), ut = NetmapRingUser.attach(core, tx.handle);
    expect(rx.rxsync([pattern(100, 1), pattern(200, 2)])).toBe(2);
    const rxBufs = [ur.slot(0).buf, ur.slot(1).buf];
    for (let i = 0; i < 2; i++) ur.setSlot(i, { buf: ut.slot(i).buf, flags: D.NS_BUF_CHANGED });
    ur.setHead(2);
    expect(rx.rxsync()).toBe(0);
    expect(rx.counters().badSwap).toBe(2n);
    expect([ur.slot(0).buf, ur.slot(1).buf]).toEqual(rxBufs);
    expect(pool.count("user")).toBe(0);
  });

  it("a swap naming a buffer the backend does not hold is refused and counted; the slot keeps its buffer", async () => {
    const { core, ring, user, pool } = await setup("tx");
    const other = NetmapRing.create(core, { pool, slots: 4, direction: "rx" });
    const theirs = NetmapRingUser.attach(core, other.handle).slot(0).buf;
    const free = (() => { const b = pool.alloc()!; pool.free(b); return b; })();
    const mine = user.slot(0).buf;
    for (const [bad, counter] of [[theirs, "badSwap"], [free, "badSwap"], [64, "badBufIndex"], [0xffffffff, "badBufIndex"]] as const) {
      user.setSlot(user.head, { buf: bad, len: 60, flags: D.NS_BUF_CHANGED });
      const slot = user.head;
      user.setHead((user.head + 1) % 8);
      const before = ring.counters()[counter];
      expect(ring.txsync().count).toBe(0);
      expect(ring.counters()[counter]).toBe(before + 1n);
      expect(user.slot(slot).buf).not.toBe(bad);
    }
    expect(pool.holder(theirs)).toBe("ring");
    expect(pool.holder(free)).toBe("free");
    expect(user.slot(0).buf).toBe(mine);
  });

  it("a buffer index changed without NS_BUF_CHANGED is not followed: frame skipped, index restored, counted", async () => {
    const { ring, user, pool } = await setup("tx");
    const b = pool.alloc()!;
    const mine = user.slot(0).buf;
    user.setSlot(0, { buf: b, len: 60 });
    user.setHead(1);
    expect(ring.txsync().count).toBe(0);
    expect(ring.counters().slotMismatch).toBe(1n);
    expect(user.slot(0).buf).toBe(mine);
    expect(pool.holder(b)).toBe("user");
  });
});

describe("netmap ring: the backend side against slots it cannot follow", () => {
  it("regression_user_receive_skips_unreadable_slot: an RX slot with an index outside the pool goes back without a frame instead of wedging the ring", async () => {
    const { ring, user } = await setup("rx");
    const frames = [pattern(60, 1), pattern(61, 2), pattern(62, 3)];
    expect(ring.rxsync(frames)).toBe(3);
    user.setSlot(1, { buf: 0xffffff });
    expect(user.receive()).toEqual([frames[0], frames[2]]);
    expect(user.unreadable).toBe(1);
    expect(user.owned()).toBe(0);
    // The device takes the slot back, restores its index and counts it; the ring keeps moving.
    expect(ring.rxsync([pattern(63, 4)])).toBe(1);
    expect(ring.counters().badBufIndex).toBe(1n);
    expect(user.receive()).toEqual([pattern(63, 4)]);
  });

  it("receiveEach visits each frame in place (the bytes receive() would copy), skips an unreadable slot or an oversized length, honours max, and gives the visited slots back with one head update", async () => {
    const { ring, user } = await setup("rx");
    const frames = [pattern(60, 1), pattern(61, 2), pattern(62, 3), pattern(63, 4), pattern(64, 5)];
    expect(ring.rxsync(frames)).toBe(5);
    user.setSlot(1, { buf: 0xffffff });
    user.setSlot(2, { len: user.bufferSize + 1 });
    const seen: Uint8Array[] = [];
    const visit = (m: Uint8Array, off: number, len: number) => { seen.push(m.slice(off, off + len)); };
    expect(user.receiveEach(visit, 1)).toBe(1);
    expect(user.owned()).toBe(4);
    expect(user.receiveEach(visit)).toBe(2);
    expect(seen).toEqual([frames[0], frames[3], frames[4]]);
    expect(user.unreadable).toBe(2);
    expect(user.owned()).toBe(0);
  });

  it("regression_user_send_skips_unreadable_slot: a TX slot with an index outside the pool is passed back empty, and the frame goes in the next slot", async () => {
    const { ring, user } = await setup("tx");
    user.setSlot(0, { buf: 0xffffff });
    expect(user.send([pattern(70, 5)])).toBe(1);
    expect(user.unreadable).toBe(1);
    const r = ring.txsync();
    expect(r.frames!.copies()).toEqual([pattern(70, 5)]);
    expect(ring.counters().badBufIndex).toBe(1n);
  });
});

describe("netmap ring: forwarding between rings of one pool", () => {
  it("RX → TX without a copy, in the order that keeps every buffer held by someone", async () => {
    const core = await newCore(1 << 20);
    const pool = RingPool.create(core, { buffers: 32, bufferSize: 2048 });
    const rx = NetmapRing.create(core, { pool, slots: 8, direction: "rx" });
    const tx = NetmapRing.create(core, { pool, slots: 8, direction: "tx" });
    const ur = NetmapRingUser.attach(core, rx.handle), ut = NetmapRingUser.attach(core, tx.handle);
    const frames = [pattern(100, 1), pattern(200, 2), pattern(1500, 3)];
    expect(rx.rxsync(frames)).toBe(3);
    // The backend holds nothing outside slots, so it first needs buffers of its own: three spares.
    const spares = [pool.alloc()!, pool.alloc()!, pool.alloc()!];
    for (let i = 0; i < 3; i++) {
      const rs = ur.slot(i);
      ut.setSlot(i, { buf: rs.buf, len: rs.len, flags: D.NS_BUF_CHANGED }); // the received buffer goes out on TX…
      ur.setSlot(i, { buf: spares[i], flags: D.NS_BUF_CHANGED });         // …and a spare refills the RX slot
    }
    ur.setHead(3);
    expect(rx.rxsync()).toBe(0);
    expect(rx.counters().swaps).toBe(3n);
    ut.setHead(3);
    const out = tx.txsync();
    expect(out.frames!.copies()).toEqual(frames);
    expect(tx.counters().swaps).toBe(3n);
    expect(tx.counters().badSwap).toBe(0n);
    // The TX slots' old buffers are the backend's now: the next spares.
    expect(pool.count("user")).toBe(3);
    expect(pool.count("ring")).toBe(16);
  });
});

describe("netmap ring: a backend that writes impossible indices", () => {
  it("head past tail: the sync fails with ERR_CORRUPT, the shared fields go back to the device's view, counted", async () => {
    const { ring, user } = await setup("tx");
    user.send([pattern(60, 1), pattern(60, 2)]);
    expect(ring.txsync().count).toBe(2); // rhead 2, rtail 1: the backend owns 2..0
    // The backend owns 2..7, 0 (tail 1): any head in the ring is a legal advance here; past the ring is not.
    for (const bad of [8, 1000, 0xffffffff]) {
      user.poke(D.NMR_OFF_HEAD, bad);
      expect(ring.txsync().status).toBe(Status.ERR_CORRUPT);
      expect([user.head, user.cur, user.tail]).toEqual([2, 2, 1]);
    }
    expect(ring.counters().badHead).toBe(3n);
    // The ring still works.
    expect(user.send([pattern(70, 3)])).toBe(1);
    expect(ring.txsync().frames!.copies()).toEqual([pattern(70, 3)]);
  });

  it("RX: a head that moves past the frames delivered (or backwards) fails the sync", async () => {
    const { ring, user } = await setup("rx");
    ring.rxsync([pattern(60, 1), pattern(60, 2), pattern(60, 3)]); // backend owns 0..2, tail 3
    user.setHead(2);
    expect(ring.rxsync()).toBe(0); // released 0, 1
    for (const bad of [4, 7, 1]) {
      user.poke(D.NMR_OFF_HEAD, bad);
      expect(ring.rxsync()).toBe(-Status.ERR_CORRUPT);
      expect(user.head).toBe(2);
    }
    expect(ring.counters().badHead).toBe(3n);
    expect(user.receive()).toEqual([pattern(60, 3)]);
  });

  it("cur outside [head, tail] fails the sync; a backend that writes TAIL has it rewritten", async () => {
    const { ring, user } = await setup("rx");
    ring.rxsync([pattern(60, 1), pattern(60, 2), pattern(60, 3)]); // backend owns 0..2, tail 3
    user.poke(D.NMR_OFF_CUR, 5);
    expect(ring.rxsync()).toBe(-Status.ERR_CORRUPT);
    expect(ring.counters().badCur).toBe(1n);
    user.poke(D.NMR_OFF_TAIL, 6);
    expect(ring.rxsync()).toBe(0);
    expect(user.tail).toBe(3);
    expect(ring.counters().tailRepaired).toBe(1n);
    expect(user.receive()).toHaveLength(3);
  });

  it("a TX slot longer than a buffer is skipped and counted; a zero length returns the slot without a frame", async () => {
    const { ring, user } = await setup("tx", 8, 16, 256);
    user.setSlot(0, { len: 257 });
    user.setSlot(1, { len: 0 });
    user.buffer(user.slot(2).buf).set(pattern(256, 4));
    user.setSlot(2, { len: 256 });
    user.setHead(3);
    expect(ring.txsync().frames!.copies()).toEqual([pattern(256, 4)]);
    expect(ring.counters().badLen).toBe(1n);
    expect(ring.counters().emptySlots).toBe(1n);
    expect(user.tail).toBe(2);
  });

  for (const dir of ["tx", "rx"] as const) {
    it(`${dir}: random writes to every backend-visible field never make the device touch memory outside its ring, pool buffers and I/O buffer`, async () => {
      const seed = testSeed();
      const r = rng(seed);
      const { core, pool, ring, user } = await setup(dir, 16, 48, 256);
      // Every buffer starts with its own pattern, so each frame the device returns can be traced to a buffer.
      for (let b = 0; b < 48; b++) pool.buffer(b).set(pattern(256, b));
      const ringBufs = new Set(Array.from({ length: 16 }, (_, i) => user.slot(i).buf));
      const ptr = (b: number) => pool.buffer(b).byteOffset;
      const allowed: Array<[number, number]> = [[ring.ptr, ring.ptr + Number(core.exports.nmr_memory_bytes(16))], [core.ioPtr(), core.ioPtr() + core.exports.io_size()], [0, 4096]];
      // RX: the device writes frames only into the ring's own buffers (the backend holds no buffer it could swap in).
      // TX: the device writes no buffer, but this backend writes into whatever buffer a slot names.
      if (dir === "rx") for (const b of ringBufs) allowed.push([ptr(b), ptr(b) + 256]);
      else allowed.push([ptr(0), ptr(47) + 256]);
      const guard = new MemoryGuard(core, allowed);
      const fields = [D.NMR_OFF_HEAD, D.NMR_OFF_CUR, D.NMR_OFF_TAIL];
      for (let step = 0; step < 1500; step++) {
        const x = r();
        if (x < 0.3) user.poke(fields[Math.floor(r() * 3)], r() < 0.5 ? Math.floor(r() * 20) : Math.floor(r() * 2 ** 32));
        else if (x < 0.6) {
          const i = Math.floor(r() * 16);
          user.setSlot(i, { buf: r() < 0.5 ? Math.floor(r() * 60) : Math.floor(r() * 2 ** 32), len: Math.floor(r() * 300), flags: Math.floor(r() * 4) });
        } else if (x < 0.7 && dir === "tx") user.send([pattern(1 + Math.floor(r() * 200), step)]);
        else if (x < 0.7) user.receive(2);
        else if (dir === "tx") {
          const out = ring.txsync();
          expect([Status.OK, Status.ERR_CORRUPT], `seed ${seed} step ${step}`).toContain(out.status);
          for (const f of out.frames ?? []) {
            expect(f.length, `seed ${seed}`).toBeLessThanOrEqual(256);
            // Every frame is the start of some buffer of the pool, as it is now (nothing wrote buffers during the sync).
            const from = Array.from({ length: 48 }, (_, b) => b).find((b) => Buffer.from(pool.buffer(b).subarray(0, f.length)).equals(Buffer.from(f)));
            expect(from, `seed ${seed} step ${step}: a frame that is no pool buffer's`).toBeDefined();
          }
        } else {
          const n = ring.rxsync(Array.from({ length: Math.floor(r() * 4) }, (_, k) => pattern(1 + Math.floor(r() * 300), k)));
          expect(n === -Status.ERR_CORRUPT || (n >= 0 && n <= 3), `seed ${seed} step ${step}: ${n}`).toBe(true);
        }
        const k = ring.kring();
        for (const v of Object.values(k)) expect(v, `seed ${seed}`).toBeLessThan(16);
      }
      expect(guard.changed(), `seed ${seed}`).toEqual([]);
      // What each buffer is held as never went wrong: 16 in the ring, 32 free, none given to the backend.
      expect([pool.count("ring"), pool.count("free"), pool.count("user")], `seed ${seed}`).toEqual([16, 32, 0]);
      const c = ring.counters();
      expect(c.badHead + c.badCur, `seed ${seed}`).toBeGreaterThan(0n);
      expect(c.badBufIndex + c.slotMismatch + c.badSwap, `seed ${seed}`).toBeGreaterThan(0n);
    });
  }
});

describe("netmap ring: mode-switch support", () => {
  it("a frozen TX ring consumes what was sent but hands out no new slots until thawed", async () => {
    const { ring, user } = await setup("tx");
    user.send([pattern(60, 1), pattern(60, 2)]);
    ring.freeze(true);
    expect(ring.txsync().count).toBe(2);
    expect(user.tail).toBe(7);
    expect(user.owned()).toBe(5);
    expect(ring.userHeld).toBe(5);
    // The backend gives the rest back empty (length 0): it then holds nothing.
    for (let i = 2; i < 7; i++) user.setSlot(i, { len: 0 });
    user.setHead(7);
    expect(ring.txsync().count).toBe(0);
    expect(ring.userHeld).toBe(0);
    ring.freeze(false);
    expect(user.tail).toBe(6);
    expect(user.owned()).toBe(7);
  });

  it("a frozen RX ring delivers nothing; the backend's held slots drain to 0", async () => {
    const { ring, user } = await setup("rx");
    ring.rxsync([pattern(60, 1), pattern(60, 2)]);
    ring.freeze(true);
    expect(ring.rxsync([pattern(60, 3)])).toBe(0);
    expect(user.receive()).toHaveLength(2);
    expect(ring.rxsync()).toBe(0);
    expect(ring.userHeld).toBe(0);
    ring.freeze(false);
    expect(ring.rxsync([pattern(60, 3)])).toBe(1);
  });

  it("slots switch between a pool buffer and none (copy mode), only while the device owns them", async () => {
    const { ring, user, pool } = await setup("rx");
    expect(ring.slotMode(0)).toBe("ring");
    const b = user.slot(0).buf;
    expect(ring.setSlotMode(0, "normal")).toBe(Status.OK);
    expect(pool.holder(b)).toBe("free");
    expect(ring.slotMode(0)).toBe("normal");
    expect(ring.setSlotMode(0, "ring")).toBe(Status.OK);
    expect(pool.holder(user.slot(0).buf)).toBe("ring");
    ring.rxsync([pattern(60, 1)]); // slot 0 is the backend's now
    expect(ring.setSlotMode(0, "normal")).toBe(Status.ERR_BAD_STATE);
    expect(() => ring.slotMode(99)).toThrow(/ERR_INVALID_ARG/);
  });

  it("regression_rx_put_into_normal_slot: the device never fills an RX slot in copy mode (its buffer went back to the pool and may be someone else's)", async () => {
    const { ring, user, pool } = await setup("rx");
    const had = user.slot(0).buf;
    expect(ring.setSlotMode(0, "normal")).toBe(Status.OK);
    // The buffer slot 0 had is free now; a backend takes it and fills it with its own data.
    const mine = pool.alloc()!;
    expect(mine).toBe(had);
    pool.buffer(mine).fill(0xa5, 0, 64);
    expect(ring.rxsync([pattern(60, 1)])).toBe(1); // taken and dropped (counted), as a frame above the buffer size is
    expect(Array.from(pool.buffer(mine).subarray(0, 64)).every((x) => x === 0xa5)).toBe(true);
    expect(ring.counters().dropped).toBe(1n);
    expect(user.owned()).toBe(0);
    // Back in ring mode the slot takes frames again.
    expect(ring.setSlotMode(0, "ring")).toBe(Status.OK);
    expect(ring.rxsync([pattern(60, 2)])).toBe(1);
    expect(user.receive()).toEqual([pattern(60, 2)]);
  });

  it("a TX slot in copy mode is passed over without a frame", async () => {
    const { ring, user } = await setup("tx");
    expect(ring.setSlotMode(7, "normal")).toBe(Status.OK); // slot 7 is the device's (the empty one)
    expect(ring.setSlotMode(0, "normal")).toBe(Status.ERR_BAD_STATE);
  });
});

describe("netmap ring: lifetime", () => {
  it("a pool with rings is not destroyed; destroying a ring frees its buffers, not the backend's", async () => {
    const { ring, user, pool } = await setup("tx");
    const b = pool.alloc()!;
    pool.buffer(b).set(pattern(60, 5));
    user.setSlot(0, { buf: b, len: 60, flags: D.NS_BUF_CHANGED });
    user.setHead(1);
    ring.txsync();
    expect(() => pool.destroy()).toThrow(/ERR_BAD_STATE/);
    ring.destroy();
    expect(pool.count("ring")).toBe(0);
    expect(pool.count("user")).toBe(1); // the buffer swapped out of slot 0
    expect(pool.count("free")).toBe(63);
    pool.destroy();
    expect(() => ring.destroy()).not.toThrow(); // twice is fine
  });

  it("bad handles and arguments are refused", async () => {
    const { core, pool } = await setup("tx");
    expect(() => NetmapRing.create(core, { pool, slots: 1, direction: "tx" })).toThrow(/ERR_INVALID_ARG/);
    expect(() => NetmapRing.create(core, { pool, slots: 40000, direction: "tx" })).toThrow(/ERR_INVALID_ARG/);
    expect(() => NetmapRing.create(core, { pool, slots: 100, direction: "tx" })).toThrow(/ERR_NO_MEMORY/); // 64 buffers, 8 in use
    expect(core.exports.nmr_txsync(99, 0, 0)).toBe(-Status.ERR_BAD_HANDLE);
    expect(core.exports.nmr_txsync(pool.handle, 0, 0)).toBe(-Status.ERR_BAD_HANDLE);
    expect(() => RingPool.create(core, { buffers: 4, bufferSize: 100 })).toThrow(/ERR_INVALID_ARG/);
    expect(pool.count("free")).toBe(56);
  });
});

export type { VmCore };
