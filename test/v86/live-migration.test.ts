// Live migration of the running Debian guest in v86, with vmdev's virtio-net,
// from v86 in this process to a fresh v86 in another process
// (`vmdev migrate --v86 CONFIG --listen`), over TCP, while a peer on a relay
// hub floods the guest with numbered ICMP echo requests. The frames reach
// both v86 machines through v86's own relay backend on the hub.
//
// Loss, from the sequence numbers and the migration's events: a request is
// "in flight at the freeze" when, at the moment v86 stopped (the source's
// write lock), it had been sent and not answered, or when it was sent after
// that and before the destination reported that it runs the guest
// (RESUMED). Every request lost must be one of those; every request sent
// after RESUMED is answered (by the guest on the destination).
import { afterAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket as NodeWebSocket } from "ws";
import { attachToV86, loadModule, type V86Nic } from "../../src/index.js";
import { v86MigrationSource, v86DestinationFactory, V86StateDevice, packZeroRuns, unpackZeroRuns } from "../../src/adapters/v86/index.js";
import type { V86Emulator } from "../../src/adapters/v86/types.js";
import { connect, portPair } from "../../src/migration/transport.js";
import { startMigration, migrate } from "../../src/migration/source.js";
import { receiveMigration } from "../../src/migration/destination.js";
import { VmCore } from "../../src/vm-core.js";
import { HostKind } from "../../src/state.js";
import { hostOpen, hostSeal } from "../../src/platform/pci/seal.js";
import type { MigratableDevice, MigrationSource } from "../../src/migration/types.js";
import { Refuse } from "../../src/migration/wire.js";
import { bootGuest, guestFiles, KERNEL_CMDLINE, type GuestFiles, type GuestRun } from "../support/v86-guest.js";
import { startRelayHub, type RelayHub } from "../support/relay-hub.js";
import { IcmpPeer } from "../support/icmp-peer.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 live-migration test skipped: ${files}`);

const root = fileURLToPath(new URL("../../", import.meta.url));
const GUEST_MAC = "52:54:00:12:34:56";
const PEER_MAC = "52:54:00:00:00:02";
const RAM = 128 << 20;
const CMDLINE = `${KERNEL_CMDLINE} vmdev.mode=shell`;

/** The guest machine in this process: bootGuest's options, the NIC attached before the first instruction. */
async function machine(f: GuestFiles, opts: { relay?: string; start: boolean; memoryBytes?: number }): Promise<{ run: GuestRun; nic: V86Nic }> {
  const run = bootGuest(f, {
    memoryBytes: opts.memoryBytes ?? RAM, disk: true, start: opts.start, cmdlineExtra: "vmdev.mode=shell", echo: !!process.env.VMDEV_GUEST_ECHO,
    v86Options: { net_device: opts.relay ? { relay_url: opts.relay } : {} },
  });
  const nic = await attachToV86(run.emulator, { nic: "virtio", mac: GUEST_MAC, name: "net0", variant: "release" });
  await run.ready;
  return { run, nic };
}

/** `vmdev migrate --v86 CONFIG --listen 0` as a child; resolves with its port; its stdout JSON lines are collected. */
function startDestination(config: string): Promise<{ child: ChildProcess; port: number; lines: Array<Record<string, unknown>>; exited: Promise<number | null>; stderr: () => string }> {
  const child = spawn(process.execPath, [`${root}bin/vmdev.js`, "migrate", "--v86", config, "--listen", "0", "--run-after", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: Array<Record<string, unknown>> = [];
  let out = "", err = "";
  child.stderr!.on("data", (b) => { err += b; });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (b) => {
      out += b;
      let nl: number;
      while ((nl = out.indexOf("\n")) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const m = /^listening 127\.0\.0\.1:(\d+)/.exec(line);
        if (m) resolve({ child, port: Number(m[1]), lines, exited, stderr: () => err });
        else { try { lines.push(JSON.parse(line)); } catch { /* not a JSON line */ } }
      }
    });
    void exited.then((code) => reject(new Error(`destination exited (${code}) before listening: ${err}`)));
  });
}

describe.skipIf(typeof files === "string")("live migration of the Debian guest in v86 between two processes", () => {
  const g = globalThis as { WebSocket?: unknown };
  const hadWebSocket = "WebSocket" in g, before = g.WebSocket;
  afterAll(() => { if (hadWebSocket) g.WebSocket = before; else delete g.WebSocket; });

  it("pre-copy while the guest answers a ping flood, stop, resume in a fresh v86 in another process: replies go on, loss within the frames in flight at the freeze, memory verified", async () => {
    if (typeof files === "string") return;
    // v86's relay backend uses the global WebSocket, which Node 20 does not have.
    g.WebSocket = NodeWebSocket;
    const t0 = performance.now();
    const dir = mkdtempSync(join(tmpdir(), "vmdev-v86mig-"));
    let hub: RelayHub | null = null;
    let peer: IcmpPeer | null = null;
    let src: { run: GuestRun; nic: V86Nic } | null = null;
    let dest: Awaited<ReturnType<typeof startDestination>> | null = null;
    try {
      hub = await startRelayHub();
      const guestDir = `${root}.cache/guest/`;
      const config = join(dir, "guest.json");
      writeFileSync(config, JSON.stringify({
        memory_size: RAM, bios: `${guestDir}bios.bin`, bzimage: `${guestDir}vmlinuz`, initrd: `${guestDir}initramfs.cpio`, cmdline: CMDLINE,
        hda_blank_bytes: 1 << 20, nics: [{ model: "virtio", mac: GUEST_MAC, name: "net0" }], net_device: { relay_url: hub.url },
      }));
      peer = await IcmpPeer.connect({ url: hub.url, mac: PEER_MAC, ip: files.meta.guest.responderIp, guestMac: GUEST_MAC, guestIp: files.meta.guest.ip });
      src = await machine(files, { relay: hub.url, start: true });
      // A watchdog only: a quiet machine boots in 25-75 s, a busy one takes several times as long.
      await src.run.waitFor(/VMDEV-READY/, 400_000);
      const bootMs = performance.now() - t0;
      dest = await startDestination(config);
      // Watchdog: the peer, the source's v86 and the destination's (which connects before its guest runs).
      await Promise.race([hub.waitClients(3), new Promise((_, rej) => setTimeout(() => rej(new Error(`relay hub: ${hub!.clients.length} clients, want 3; destination stderr: ${dest!.stderr()}`)), 120_000))]);
      peer.start(5);
      await peer.until(() => peer!.replied.size >= 100, 120_000, "the guest answers on the source");

      const source = await v86MigrationSource(src.run.emulator as unknown as V86Emulator, [src.nic], { module: await loadModule("release") });
      // The freeze and RESUMED, as sequence numbers: what the peer had sent, and which it had answers for.
      let sentAtFreeze = -1, sentAtResumed = -1;
      let repliedAtFreeze = new Set<number>();
      const lock = source.writeLock.bind(source);
      const wrapped: MigrationSource = {
        ...source, core: source.core, devices: source.devices, retire: source.retire, setThrottle: source.setThrottle,
        // Each pre-copy harvest waits until the guest has answered 20 more requests: v86 runs on this
        // thread, so without the wait back-to-back rounds could leave it no turn to run between them.
        // Under the freeze (and after it) nothing runs and the sync goes ahead at once.
        syncDirty: async () => {
          if (sentAtFreeze < 0) {
            const want = peer!.replied.size + 20;
            await peer!.until(() => peer!.replied.size >= want, 120_000, "the guest answering during pre-copy");
          }
          return source.syncDirty!();
        },
        writeLock: async () => {
          const release = await lock();
          sentAtFreeze = peer!.sent;
          repliedAtFreeze = new Set(peer!.replied);
          return release;
        },
      };
      const transport = await connect(dest.port);
      const session = startMigration(wrapped, transport, {
        autoConverge: false, maxRounds: 4, downtimeLimitMs: 1, // a limit nothing fits: pre-copy runs to the round cap while the guest runs
        onResumed: () => { sentAtResumed = peer!.sent; },
      });
      const report = await session.done;
      const sourceRxAtRetire = src.nic.link.counters().rxFrames;
      const resumedSeq = sentAtResumed;
      // The guest runs on the destination: 100 requests sent after RESUMED are answered.
      await peer.until(() => peer!.sent >= resumedSeq + 100, 120_000, "requests sent after the switch");
      peer.stop();
      const lastSent = peer.sent;
      await peer.until(() => { for (let s = resumedSeq + 1; s <= lastSent; s++) if (!peer!.replied.has(s)) return false; return true; }, 120_000, "every request sent after RESUMED answered");

      const inFlight = new Set<number>();
      for (let s = 1; s <= sentAtFreeze; s++) if (!repliedAtFreeze.has(s)) inFlight.add(s);
      for (let s = sentAtFreeze + 1; s <= resumedSeq; s++) inFlight.add(s);
      const lost: number[] = [];
      for (let s = 1; s <= lastSent; s++) if (!peer.replied.has(s)) lost.push(s);
      const pre = report.roundStats.filter((r) => r.round > 0 && !r.final);
      console.log([
        `v86 live migration: boot ${(bootMs / 1000).toFixed(1)} s, whole test ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        `rounds ${report.rounds} (pages ${report.roundStats.map((r) => r.pages).join(", ")}), total ${report.totalTimeMs.toFixed(0)} ms, downtime ${report.downtime.toRunningMs.toFixed(1)} ms to running / ${report.downtime.toLastByteMs.toFixed(1)} ms to last byte`,
        `downtime parts ${JSON.stringify(Object.fromEntries(Object.entries(report.downtime.parts).map(([k, v]) => [k, Math.round(v * 10) / 10])))}`,
        `mirror syncs (ms): ${source.syncs.map((s) => s.ms.toFixed(1)).join(", ")}; changed pages: ${source.syncs.map((s) => s.changed).join(", ")}`,
        `flood: sent ${lastSent}, answered ${peer.replied.size}, duplicates ${peer.duplicates}; in flight at the freeze ${inFlight.size} (unanswered ${[...inFlight].filter((s) => s <= sentAtFreeze).length}, sent in the downtime ${resumedSeq - sentAtFreeze}); lost ${lost.length}`,
        `destination: ${JSON.stringify(dest.lines.find((l) => l.role === "destination" && "ok" in l) ?? null)}`,
      ].join("\n"));

      expect(report.error ?? null).toBeNull();
      expect(report.ok).toBe(true);
      expect(report.running).toBe("destination");
      expect(report.verifyMode).toBe("deferred");
      expect(report.verified).toBe(true);
      expect(report.untrackedPages).toBe(0);
      // The guest ran during pre-copy (20 answers before each harvest): every pre-copy round after round 0 found pages the guest (and its NIC) wrote.
      expect(pre.length).toBe(3);
      for (const r of pre) expect(r.pages, `round ${r.round}`).toBeGreaterThan(0);
      for (const r of pre) expect(r.syncMs, `round ${r.round}`).toBeGreaterThan(0);
      // Replies came back during pre-copy too (the guest ran and answered).
      expect(repliedAtFreeze.size).toBeGreaterThan(100);
      // Loss: only requests in flight at the freeze.
      expect(lost.filter((s) => !inFlight.has(s))).toEqual([]);
      expect(lost.length).toBeLessThanOrEqual(inFlight.size);
      // The source is retired: v86 stopped, its NIC off the bus.
      expect(source.retired).toBe(true);
      expect(src.run.emulator.is_running()).toBe(false);
      expect(src.nic.link.counters().rxFrames).toBe(sourceRxAtRetire);

      dest.child.kill("SIGTERM");
      expect(await dest.exited).toBe(0);
      const d = dest.lines.find((l) => l.role === "destination" && "ok" in l)!;
      expect(d).toMatchObject({ ok: true, resumed: true, memoryVerified: true, sourceCheck: { changedPages: 0 } });
      expect(d.ramCopyMs as number).toBeGreaterThan(0);
    } finally {
      peer?.close();
      dest?.child.kill("SIGKILL");
      await src?.run.stop().catch(() => {});
      src?.nic.destroy();
      await hub?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 900_000);
});

describe.skipIf(typeof files === "string")("vmdev migrate --v86 --listen", () => {
  it("regression_v86_destination_joins_the_relay_before_it_runs: the fresh v86 is on the relay hub before any guest instruction (v86 itself connects on the guest's first frame)", async () => {
    if (typeof files === "string") return;
    const hub = await startRelayHub();
    const dir = mkdtempSync(join(tmpdir(), "vmdev-v86mig-"));
    let dest: Awaited<ReturnType<typeof startDestination>> | null = null;
    try {
      const guestDir = `${root}.cache/guest/`;
      const config = join(dir, "guest.json");
      writeFileSync(config, JSON.stringify({ memory_size: RAM, bios: `${guestDir}bios.bin`, bzimage: `${guestDir}vmlinuz`, initrd: `${guestDir}initramfs.cpio`, cmdline: CMDLINE,
        hda_blank_bytes: 1 << 20, nics: [{ model: "virtio", mac: GUEST_MAC, name: "net0" }], net_device: { relay_url: hub.url } }));
      dest = await startDestination(config);
      // Listening means v86 is ready and its NIC attached; nothing has run or sent.
      await Promise.race([hub.waitClients(1), new Promise((_, rej) => setTimeout(() => rej(new Error(`the destination never joined the relay: ${dest!.stderr()}`)), 60_000))]);
      expect(hub.accepted).toBe(1);
      expect(hub.stats.received).toBe(0);
    } finally {
      dest?.child.kill("SIGKILL");
      await hub.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/** A source that lies: its v86 state device sends `blob`; its RAM is `ramBytes` (zeros). */
async function lyingSource(module: WebAssembly.Module, ramBytes: number, blob: Uint8Array): Promise<MigrationSource> {
  const core = await VmCore.create({ module, variant: "release", ramBytes });
  const dev: MigratableDevice = { kind: HostKind.v86State, name: "v86", saveState: () => blob, restoreState: () => 0, reset: () => {} };
  return { core, devices: [dev], writeLock: async () => () => {}, setThrottle: () => {} };
}

describe.skipIf(typeof files === "string")("a v86 destination copies each round into v86 as it lands", () => {
  it("after the final round v86's RAM equals every page as sent, rounds 1 and 2 included, with only the final round's pages left to the freeze", async () => {
    if (typeof files === "string") return;
    const module = await loadModule("release");
    const { run, nic } = await machine(files, { start: false });
    try {
      const v86 = (run.emulator as unknown as { v86: { cpu: { mem8: Uint8Array } } }).v86;
      const state = new V86StateDevice(v86 as never, [nic]);
      // The source: this unstarted machine's own state and RAM, with pages in the top MiB rewritten before each round.
      const core = await VmCore.create({ module, variant: "release", ramBytes: RAM });
      core.guest.view(0, RAM).set(v86.cpu.mem8.subarray(0, RAM));
      const own = state.saveState();
      const dev: MigratableDevice = { kind: HostKind.v86State, name: "v86", saveState: () => own, restoreState: () => 0, reset: () => {} };
      let round = 0;
      const rewritten: number[] = [];
      const source: MigrationSource = {
        core, devices: [dev], writeLock: async () => () => {}, setThrottle: () => {},
        // Before each harvest (rounds 1, 2 and the final one): new bytes in 8 pages of the top MiB, marked through the port.
        syncDirty: () => {
          round++;
          for (let i = 0; i < 8; i++) {
            const page = RAM / 4096 - 256 + ((round * 37 + i * 29) % 256);
            core.guest.fill(page * 4096, (round * 16 + i) & 0xff, 4096);
            rewritten.push(page);
          }
        },
      };
      const d = v86DestinationFactory(run.emulator as unknown as V86Emulator, [nic], { module });
      let checked = false;
      const [a, b] = portPair();
      const [report, res] = await Promise.all([
        migrate(source, a, { autoConverge: false, maxRounds: 3, downtimeLimitMs: 1e-6, verify: "full" }),
        receiveMigration(b, d.factory, {
          // After the final round and the device state, before this side hashes its memory: v86's RAM must be the pages as received.
          beforeVerify: (dest) => {
            const mine = dest.core.guest.view(0, RAM);
            expect(Buffer.compare(Buffer.from(v86.cpu.mem8.buffer, v86.cpu.mem8.byteOffset, RAM), Buffer.from(mine.buffer, mine.byteOffset, RAM))).toBe(0);
            checked = true;
          },
        }),
      ]);
      await run.emulator.stop();
      expect(report.ok, report.error).toBe(true);
      expect(res.resumed).toBe(true);
      expect(checked).toBe(true);
      expect(report.rounds).toBeGreaterThanOrEqual(3);
      expect(rewritten.length).toBeGreaterThan(0);
      for (const p of rewritten.slice(-8)) expect(v86.cpu.mem8[p * 4096 + 100]).toBe(core.guest.view(p * 4096, 4096)[100]);
    } finally {
      await run.stop().catch(() => {});
      nic.destroy();
    }
  }, 300_000);
});

describe.skipIf(typeof files === "string")("a v86 destination and a lying source", () => {
  it("refuses a damaged v86 state, a state of another RAM size and a VM of another RAM size: never runs, v86 and the NIC untouched", async () => {
    if (typeof files === "string") return;
    const module = await loadModule("release");
    const { run, nic } = await machine(files, { start: false });
    try {
      // This machine's own state, sealed, with v86's CPU saying 64 MiB of RAM: well formed, and a lie.
      const own = new V86StateDevice((run.emulator as unknown as { v86: never }).v86, [nic]).saveState();
      const opened = hostOpen(own, HostKind.v86State);
      if (typeof opened === "number") throw new Error(`own state does not open: ${opened}`);
      const fields = opened.fields.map((f) => {
        if (f.tag !== 1) return { tag: f.tag, value: f.value.slice() };
        const v = unpackZeroRuns(f.value, 64 << 20)!;
        const infoLen = new DataView(v.buffer).getInt32(12, true);
        const info = new TextDecoder().decode(v.subarray(16, 16 + infoLen));
        const lied = info.replace(`"state":[${RAM},`, `"state":[${64 << 20} ,`);
        expect(lied.length).toBe(info.length);
        expect(lied).not.toBe(info);
        v.set(new TextEncoder().encode(lied), 16);
        return { tag: 1, value: packZeroRuns(v) };
      });
      const smallState = hostSeal(HostKind.v86State, 1, fields);
      const nicBefore = nic.device.saveState();
      const garbage = new Uint8Array(4096).map((_, i) => (i * 131 + 7) & 0xff);
      const flipped = smallState.slice(); flipped[flipped.length - 100] ^= 0x40;
      const cases: Array<{ what: string; ram: number; blob: Uint8Array; phase: string }> = [
        { what: "garbage", ram: RAM, blob: garbage, phase: "verify" },
        { what: "a bit flipped in a sealed state", ram: RAM, blob: flipped, phase: "verify" },
        { what: "a v86 state that says 64 MiB", ram: RAM, blob: smallState, phase: "verify" },
        { what: "a 64 MiB VM", ram: 64 << 20, blob: smallState, phase: "handshake" },
      ];
      for (const c of cases) {
        const d = v86DestinationFactory(run.emulator as unknown as V86Emulator, [nic], { module });
        const [a, b] = portPair();
        const [report, res] = await Promise.all([migrate(await lyingSource(module, c.ram, c.blob), a, { autoConverge: false, maxRounds: 1 }), receiveMigration(b, d.factory)]);
        expect(report.ok, c.what).toBe(false);
        expect(report.running, c.what).toBe("source");
        expect(res.resumed, c.what).toBe(false);
        expect(res.errorName ?? "refused", c.what).not.toMatch(/TypeError|RangeError/);
        expect(report.failedPhase, `${c.what}: ${report.error}; destination: ${res.error}`).toBe(c.phase);
        if (c.phase === "verify") expect(res.verdict?.reason, c.what).toBe(Refuse.DEVICE_STATE);
        expect(run.emulator.is_running(), c.what).toBe(false);
        expect(run.emulator.get_instruction_counter(), c.what).toBe(0);
        expect(Buffer.from(nic.device.saveState()).equals(nicBefore), c.what).toBe(true);
      }
    } finally {
      await run.stop().catch(() => {});
      nic.destroy();
    }
  }, 300_000);
});
