// The VM read/write lock, leases and the vCPU state machine, driven from the
// main thread (the cross-thread schedules are in stress.test.ts).
import { describe, it, expect } from "vitest";
import { SyncState, W } from "../../src/sync/shared.js";
import { VmLock, type Lease, type LockResult } from "../../src/sync/vm-lock.js";
import { VcpuHost } from "../../src/vcpu/host.js";
import { VcpuCell, VcpuOwner, VcpuState, legalTransition } from "../../src/vcpu/state.js";
import { rng, testSeed } from "../support/core.js";
import { until, WATCHDOG_MS } from "../support/wait.js";

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const ok = (r: LockResult) => { if (r.status !== "ok") throw new Error(`lock: ${r.status} at ${r.stage}`); return r.release; };
function setup(vcpus = 2) {
  const s = SyncState.create(vcpus, 8);
  const host = new VcpuHost(s);
  // Waits that are not what a test is about get a watchdog's timeout.
  return { s, host, lock: new VmLock(s, { freezer: host, timeoutMs: WATCHDOG_MS }) };
}

describe("vCPU state machine", () => {
  it("allows exactly IDLE↔FROZEN, FROZEN↔RUNNING, FROZEN↔SLEEPING", () => {
    const legal = new Set(["0>1", "1>0", "1>2", "2>1", "1>3", "3>1"]);
    for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) expect(legalTransition(a, b), `${a}>${b}`).toBe(legal.has(`${a}>${b}`));
  });

  it("refuses and counts illegal transitions without changing the state", () => {
    const { s } = setup(1);
    const c = new VcpuCell(s, 0);
    expect(c.transition(VcpuState.IDLE, VcpuState.RUNNING, VcpuOwner.SELF)).toBe("illegal");
    expect(c.transition(VcpuState.IDLE, VcpuState.SLEEPING, VcpuOwner.SELF)).toBe("illegal");
    expect(c.transition(VcpuState.IDLE, VcpuState.FROZEN, VcpuOwner.SELF)).toBe("ok");
    expect(c.transition(VcpuState.FROZEN, VcpuState.RUNNING, VcpuOwner.SELF)).toBe("ok");
    expect(c.transition(VcpuState.RUNNING, VcpuState.SLEEPING, VcpuOwner.SELF)).toBe("illegal");
    expect(c.transition(VcpuState.RUNNING, VcpuState.IDLE, VcpuOwner.SELF)).toBe("illegal");
    expect(c.transition(VcpuState.RUNNING, VcpuState.RUNNING, VcpuOwner.SELF)).toBe("illegal");
    expect(c.stateName).toBe("RUNNING");
    expect(c.refused).toBe(5);
    expect(s.load(W.TRANSITIONS_REFUSED)).toBe(5);
    // A legal edge from the wrong current state is a conflict, not a change.
    expect(c.transition(VcpuState.FROZEN, VcpuState.SLEEPING, VcpuOwner.SELF)).toBe("conflict");
    expect(c.stateName).toBe("RUNNING");
  });

  it("random transition attempts agree with a model of the machine (seeded)", () => {
    const seed = testSeed();
    const rand = rng(seed);
    const { s } = setup(1);
    const c = new VcpuCell(s, 0);
    let state = 0, owner = 0, refused = 0;
    for (let i = 0; i < 5000; i++) {
      const from = Math.floor(rand() * 4), to = Math.floor(rand() * 4);
      const who = rand() < 0.5 ? VcpuOwner.SELF : VcpuOwner.HOST;
      const r = c.transition(from, to, who);
      const legal = legalTransition(from, to);
      const matches = from === state && (from === VcpuState.IDLE || owner === who);
      const want = !legal ? "illegal" : matches ? "ok" : "conflict";
      expect(r, `seed ${seed} step ${i}: ${from}->${to} by ${who} in ${state}/${owner}`).toBe(want);
      if (want === "illegal") refused++;
      if (want === "ok") { state = to; owner = to === VcpuState.IDLE ? 0 : who; }
      expect(c.state).toBe(state);
      expect(c.owner).toBe(owner);
    }
    expect(c.refused).toBe(refused);
  });

  it("a host-frozen vCPU cannot be run by its thread", () => {
    const { s } = setup(1);
    const c = new VcpuCell(s, 0);
    expect(c.transition(VcpuState.IDLE, VcpuState.FROZEN, VcpuOwner.HOST)).toBe("ok");
    expect(c.transition(VcpuState.FROZEN, VcpuState.RUNNING, VcpuOwner.SELF)).toBe("conflict");
    expect(c.transition(VcpuState.IDLE, VcpuState.FROZEN, VcpuOwner.SELF)).toBe("conflict");
    expect(c.transition(VcpuState.FROZEN, VcpuState.IDLE, VcpuOwner.HOST)).toBe("ok");
  });

  it("freezing a running vCPU asks it to stop and waits until it is idle", async () => {
    const { s, host } = setup(1);
    const c = host.cells[0];
    c.transition(VcpuState.IDLE, VcpuState.FROZEN, VcpuOwner.SELF);
    c.transition(VcpuState.FROZEN, VcpuState.RUNNING, VcpuOwner.SELF);
    let done = false;
    const p = host.freeze(0, WATCHDOG_MS).then((r) => { done = true; return r; });
    await tick(5);
    expect(done).toBe(false);
    expect(s.load(s.vcpuWord(0, 1))).toBe(1); // the request is posted
    c.transition(VcpuState.RUNNING, VcpuState.FROZEN, VcpuOwner.SELF);
    c.transition(VcpuState.FROZEN, VcpuState.IDLE, VcpuOwner.SELF);
    expect(await p).toBe("ok");
    expect(host.isFrozen(0)).toBe(true);
    host.thaw(0);
    expect(c.stateName).toBe("IDLE");
    expect(s.load(s.vcpuWord(0, 1))).toBe(0);
  });

  it("a freeze that times out leaves nothing held", async () => {
    const { s, host } = setup(2);
    const c = host.cells[1];
    c.transition(VcpuState.IDLE, VcpuState.FROZEN, VcpuOwner.SELF);
    expect(await host.freezeAll(20)).toBe("timeout");
    expect(host.isFrozen(0)).toBe(false);
    expect(host.cells[0].stateName).toBe("IDLE");
    expect(s.load(s.vcpuWord(1, 1))).toBe(0);
  });

  it("freezes nest: the vCPU runs again only after the last thaw", async () => {
    const { host } = setup(1);
    expect(await host.freeze(0, 100)).toBe("ok");
    expect(await host.freeze(0, 100)).toBe("ok");
    host.thaw(0);
    expect(host.isFrozen(0)).toBe(true);
    host.thaw(0);
    expect(host.cells[0].stateName).toBe("IDLE");
    expect(() => host.thaw(0)).toThrow(/not frozen/);
  });
});

describe("VM read/write lock", () => {
  it("readers share; the writer waits for them, then excludes them", async () => {
    const { lock, host } = setup();
    const r1 = ok(await lock.readLock());
    const r2 = ok(await lock.readLock());
    expect(lock.readers).toBe(2);
    let got = false;
    const w = lock.writeLock().then((r) => { got = true; return r; });
    await tick(5);
    expect(got).toBe(false);
    // vCPUs are frozen before the writer waits for readers.
    expect(host.isFrozen(0) && host.isFrozen(1)).toBe(true);
    // A new reader waits behind the waiting writer.
    expect((await lock.readLock({ timeoutMs: 10 })).status).toBe("timeout");
    r1(); r2();
    const release = ok(await w);
    expect(lock.writeHeld).toBe(true);
    expect((await lock.readLock({ timeoutMs: 10 })).status).toBe("timeout");
    release();
    expect(lock.writeHeld).toBe(false);
    expect(host.isFrozen(0)).toBe(false);
    ok(await lock.readLock())();
  });

  it("a stream of overlapping readers does not starve a writer", async () => {
    const { lock } = setup();
    let stop = false;
    let grantedAfterRequest = 0;
    let requested = false;
    const reader = async () => {
      while (!stop) {
        const r = await lock.readLock({ timeoutMs: 2000 });
        if (r.status !== "ok") continue;
        if (requested) grantedAfterRequest++;
        await tick(1);
        r.release();
      }
    };
    const readers = [reader(), reader(), reader()];
    await tick(10);
    requested = true;
    // Granted (not timed out), and no reader got in after the request: the readers ahead of it left, none overtook it.
    const release = ok(await lock.writeLock());
    expect(grantedAfterRequest).toBe(0);
    release();
    stop = true;
    await Promise.all(readers);
  });

  it("write locks are exclusive among writers and released in reverse order", async () => {
    const { lock, s } = setup();
    const a = ok(await lock.writeLock());
    let second = false;
    const b = lock.writeLock().then((r) => { second = true; return r; });
    await tick(5);
    expect(second).toBe(false);
    expect(s.load(W.BLOCKER)).toBe(1);
    a();
    const rb = ok(await b);
    expect(s.load(W.WWAIT)).toBe(0);
    rb();
    expect(s.load(W.BLOCKER)).toBe(0);
    expect(s.load(W.RW)).toBe(0);
    expect(s.load(W.WOWNER)).toBe(0);
  });

  it("a writer that times out undoes every step and says where it stopped", async () => {
    const { lock, s, host } = setup();
    const r = ok(await lock.readLock());
    const res = await lock.writeLock({ timeoutMs: 20 });
    expect(res).toEqual({ status: "timeout", stage: "drain readers" });
    expect(s.load(W.WWAIT)).toBe(0);
    expect(s.load(W.BLOCKER)).toBe(0);
    expect(s.load(W.WOWNER)).toBe(0);
    expect(host.isFrozen(0)).toBe(false);
    expect(lock.stats().timeouts).toBe(1);
    r();
  });
});

describe("leases", () => {
  it("a writer expires every lease, calls the callback on the holder's thread, and waits for the break", async () => {
    const { lock } = setup();
    const calls: string[] = [];
    const at = await lock.signLease(() => { calls.push("sync"); return true; });
    const later = await lock.signLease(() => { calls.push("deferred"); return false; });
    if (at.status !== "ok" || later.status !== "ok") throw new Error("sign");
    at.lease.watch(); later.lease.watch();
    expect(lock.leaseCount).toBe(2);
    expect(lock.readers).toBe(2);
    let got = false;
    const w = lock.writeLock().then((r) => { got = true; return r; });
    await until(() => calls.length === 2, "both expire callbacks");
    expect(calls.sort()).toEqual(["deferred", "sync"]);
    expect(at.lease.broken).toBe(true);
    expect(later.lease.expired).toBe(true);
    expect(later.lease.broken).toBe(false);
    expect(got).toBe(false); // the deferred lease still holds the VM
    expect(later.lease.break()).toBe(true);
    expect(later.lease.break()).toBe(false);
    const release = ok(await w);
    expect(lock.leaseCount).toBe(0);
    expect(lock.readers).toBe(0);
    expect(calls.length).toBe(2); // each callback at most once
    release();
    const st = lock.stats();
    expect([st.leasesSigned, st.leasesExpired, st.leasesBroken]).toEqual([2, 2, 2]);
  });

  it("a stream of lease signers does not starve a writer", async () => {
    const { lock } = setup();
    let stop = false, requested = false, signedAfterRequest = 0, granted = false;
    const signer = async () => {
      while (!stop) {
        const r = await lock.signLease(() => true, { timeoutMs: 2000 });
        if (r.status !== "ok") continue;
        if (requested && !granted) signedAfterRequest++;
        r.lease.watch();
        await tick(1);
        r.lease.break();
      }
    };
    const signers = [signer(), signer(), signer()];
    await tick(10);
    requested = true;
    const res = await lock.writeLock();
    granted = true;
    expect(res.status).toBe("ok");
    expect(signedAfterRequest).toBe(0);
    expect(lock.leaseCount).toBe(0);
    if (res.status === "ok") res.release();
    stop = true;
    await Promise.all(signers);
    expect(lock.stats().leasesExpired).toBeGreaterThan(0);
  });

  it("signing waits while a writer waits and succeeds after it releases", async () => {
    const { lock } = setup();
    const held = await lock.signLease(() => false);
    if (held.status !== "ok") throw new Error("sign");
    held.lease.watch();
    const w = lock.writeLock();
    await tick(2);
    expect((await lock.signLease(() => true, { timeoutMs: 10 })).status).toBe("timeout");
    let signed = false;
    const again = lock.signLease(() => true).then((r) => { signed = true; return r; });
    held.lease.break();
    const release = ok(await w);
    await tick(5);
    expect(signed).toBe(false);
    release();
    const r = await again;
    expect(r.status).toBe("ok");
    if (r.status === "ok") r.lease.break();
  });

  it("destroy breaks every lease (forcing holders that do not) and refuses new ones", async () => {
    const { lock, s } = setup();
    const cooperative = await lock.signLease(() => true);
    const stubborn = await lock.signLease(() => false);
    if (cooperative.status !== "ok" || stubborn.status !== "ok") throw new Error("sign");
    cooperative.lease.watch(); stubborn.lease.watch();
    const reader = ok(await lock.readLock());
    // Destroy expires every lease at once; the cooperative holder breaks its lease as soon as it looks
    // (its poll, here before the 20 ms grace can end), the stubborn one never does and is forced.
    const destroying = lock.destroy({ timeoutMs: 20 });
    expect(cooperative.lease.poll()).toBe(true);
    expect(cooperative.lease.broken).toBe(true);
    const forced = await destroying;
    expect(forced).toBe(1);
    expect(lock.leaseCount).toBe(0);
    expect(stubborn.lease.broken).toBe(true);
    expect(stubborn.lease.break()).toBe(false); // already forced: no double release
    expect((await lock.signLease(() => true)).status).toBe("destroyed");
    expect((await lock.readLock()).status).toBe("destroyed");
    expect((await lock.writeLock()).status).toBe("destroyed");
    reader();
    expect(s.load(W.RW)).toBe(0);
    expect(lock.stats().leasesForced).toBe(1);
  });

  it("the lease table has a bound and says when it is full", async () => {
    const { lock } = setup();
    const leases: Lease[] = [];
    for (let i = 0; i < 8; i++) { const r = await lock.signLease(() => true); if (r.status === "ok") leases.push(r.lease); }
    expect(leases.length).toBe(8);
    expect((await lock.signLease(() => true)).status).toBe("full");
    expect(lock.readers).toBe(8);
    for (const l of leases) l.break();
    expect(lock.readers).toBe(0);
  });
});
