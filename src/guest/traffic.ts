// Guest network traffic between a Machine's virtio-net and a peer VM, for
// migration scenarios: the guest side is the spec-following driver model
// (src/guest/virtio/) running against the machine's NIC as found on its PCI
// bus; the peer is a second Machine or a bare VmCore + VirtioNet (createNetPeer)
// whose driver echoes every request back. Requests carry sequence numbers, so
// loss, duplication and reordering are counted exactly.
//
// Who may touch guest RAM when:
//  - The driver runs in the main thread on a timer, only while it holds a
//    lease on the machine: a writer (migration's stop-and-copy, a
//    test's writeLock) expires it, the driver breaks it at once and stops
//    like a frozen vCPU; it signs again, which waits while the writer holds
//    the VM.
//  - Frames travel over one host link per NIC (src/net/host-link.ts, "manual"
//    delivery): a bounded queue toward each NIC, delivered into it only while
//    its side holds its lease (the link is "up" then). While
//    a side is stopped its incoming frames wait on the link (the wire), not in
//    guest RAM, so nothing lands after its state was saved; overflow is counted
//    as lost.
//  - `repoint(newMachine)` moves the machine end to a restored copy (device
//    state restored, guest RAM copied): the driver model continues on the new
//    device with its own state, and the link delivers what waited.
//
// Where every frame in flight lives across save → restore: in guest RAM
// (posted/used ring entries, copied with RAM), in device state (the receive
// backlog; chains fetched but not used are given back by quiesce), or on the
// link. Hence lost = 0 and duplicated = 0 after a correct restore.

import { VmCore } from "../vm-core.js";
import { loadModule } from "../load-node.js";
import type { WasmVariant } from "../wasm.js";
import type { Lease } from "../sync/vm-lock.js";
import { VirtioNet } from "../devices/virtio-net/device.js";
import type { Machine } from "../machine/machine.js";
import { MachineVirtioNet } from "../devices/virtio-net/machine.js";
import { machinePciBus } from "../machine/pci-bus.js";
import { parsePciNode } from "../config/pci-node.js";
import { HostLink } from "../net/host-link.js";
import { GuestRam } from "./virtio/guest-ram.js";
import { InterruptRecorder } from "./virtio/interrupts.js";
import { VirtioNetDriver } from "./virtio/net-driver.js";
import { PciTransport } from "./virtio/transport.js";
import { frame, seqOf } from "./virtio/frames.js";

/** Ethertype of traffic frames (IEEE 802 local experimental 1). */
export const TRAFFIC_ETHERTYPE = 0x88b5;
/** Device status DRIVER_OK (virtio 1.2 §2.1). */
const DRIVER_OK = 4;
/** Request / reply marker in the byte after the sequence number. */
const KIND_REQUEST = 0x51, KIND_REPLY = 0x52;

/** A bare peer VM: guest RAM and one virtio-net on virtio-pci, its interrupts recorded for its driver. */
export interface NetPeer {
  core: VmCore;
  nic: VirtioNet;
  irq: InterruptRecorder;
}

/** Build a bare peer VM (not a Machine: no vCPUs, no lock). */
export async function createNetPeer(opts: { ramBytes?: number; mac?: string; variant?: WasmVariant; module?: WebAssembly.Module } = {}): Promise<NetPeer> {
  const variant = opts.variant ?? "release";
  const core = await VmCore.create({ module: opts.module ?? (await loadModule(variant)), variant, ramBytes: opts.ramBytes ?? 4 << 20 });
  const irq = new InterruptRecorder();
  const nic = VirtioNet.create(core, { mac: opts.mac ?? "52:54:00:fe:00:01", transport: "pci", interrupts: irq, name: "peer-net0" });
  return { core, nic, irq };
}

/** Options of {@link startNetTraffic}. */
export interface NetTrafficOptions {
  /** The machine NIC's config node (default: the first virtio-net). */
  node?: string;
  /** Guest RAM window [start, end) the machine-side driver uses for rings and buffers (default: the last 2 MiB). Keep vCPU workloads out of it (`workload.pages`). */
  heap?: [number, number];
  /** Same for a Machine peer (a bare peer's driver uses [64 KiB, end)). */
  peerHeap?: [number, number];
  /** Requests outstanding (sent, no reply yet) at most (default 64). */
  window?: number;
  /** Requests sent per tick at most (default 16). */
  burst?: number;
  /** Tick period in ms (default 1). */
  intervalMs?: number;
  /** Frame length in bytes, 64..1514 (default 128). */
  frameBytes?: number;
  /** Frames each link direction holds while its far end is stopped (default 4096); overflow is lost and counted. */
  linkQueue?: number;
  /** Stop sending after this many requests (default: unlimited). */
  maxFrames?: number;
  /** RX buffers the machine-side driver keeps posted (default: the queue size, 256); fewer makes the NIC's backlog carry frames. */
  rxBuffers?: number;
  /** How long a lease sign may wait before the driver retries (default 1000 ms). */
  signTimeoutMs?: number;
}

/** Counters of a traffic run. */
export interface NetTrafficStats {
  /** Requests the machine-side driver transmitted. */
  sent: number;
  /** Distinct replies received (a request counts once it came back). */
  received: number;
  /** Requests the peer saw (distinct). */
  peerReceived: number;
  /** Frames that arrived a second time (requests at the peer + replies at the machine). */
  duplicated: number;
  /** Replies or requests that arrived with a lower sequence number than one already seen. */
  outOfOrder: number;
  /** Sent and not yet answered. */
  inFlight: number;
  /** Frames known dropped so far: by either NIC (backlog full, too long) or by the link (queue full). */
  dropped: number;
  /** After stop(): requests never answered (sent − received); while running: `dropped`. */
  lost: number;
  /** Frames waiting on the link now, toward the machine and toward the peer. */
  linkQueued: { toMachine: number; toPeer: number };
  /** Times the driver stopped for a writer (lease expiries), and machines it moved to. */
  pauses: number;
  repoints: number;
  stopped: boolean;
}

/** A running traffic flow (see startNetTraffic). */
export interface NetTraffic {
  /** Stop sending; with `drain` (default true) keep servicing until every request is answered or `timeoutMs` (default 5000) passed. Resolves to the final stats. */
  stop(opts?: { drain?: boolean; timeoutMs?: number }): Promise<NetTrafficStats>;
  stats(): NetTrafficStats;
  /** Lost frames so far (the figure migration reports as framesLost): `stats().lost`. */
  framesLost(): number;
  /**
   * Continue on `newMachine`: a restored copy of the machine (guest RAM copied,
   * the NIC's state restored, the source kept stopped). The driver model keeps
   * its state and talks to the new NIC; the link delivers what waited.
   */
  repoint(newMachine: Machine): void;
  /** The machine-side driver model (for tests that inspect it). */
  readonly driver: VirtioNetDriver;
}

/** One end of the link. */
interface Side {
  machine: Machine | null;
  nic: VirtioNet;
  dev: MachineVirtioNet | null;
  driver: VirtioNetDriver;
  irq: InterruptRecorder;
  unlisten: (() => void) | null;
  lease: Lease | null;
  signing: boolean;
  /** The side may touch its guest RAM and NIC (holds a lease, or has no lock). */
  up: boolean;
  gen: number;
  /** A restored NIC: look at every queue once when the side is next up (a kick may have been ignored while the source was quiesced). */
  kickOnUp: boolean;
}

function machineNic(m: Machine, node?: string): { node: string; dev: MachineVirtioNet } {
  for (const [n, d] of m.devicesByNode) if (d instanceof MachineVirtioNet && (node === undefined || n === node)) return { node: n, dev: d };
  throw new Error(node ? `${m.name}: no virtio-net at ${node}` : `${m.name}: the machine has no virtio-net (add -s 3,virtio-net)`);
}

function transportOf(m: Machine, node: string): PciTransport {
  const a = parsePciNode(node);
  const e = a && machinePciBus(m).find(a.bus, a.slot, a.func);
  if (!e) throw new Error(`${m.name}: nothing at PCI ${a ? `${a.bus}:${a.slot}.${a.func}` : node}`);
  return new PciTransport(e.fn, { msixVectors: 64 });
}

function defaultHeap(m: Machine): [number, number] {
  const size = m.core.guest.size;
  if (size < 4 << 20) throw new Error(`${m.name}: guest RAM ${size} bytes is too small for the driver model (want ≥ 4 MiB)`);
  return [size - (2 << 20), size];
}

/** Throw if a vCPU workload writes into the driver's window (it would corrupt the rings, as no guest kernel does). */
function checkHeap(m: Machine, heap: [number, number]): void {
  m.workloads.forEach((w, i) => {
    const a = w.firstPage * 4096, b = (w.firstPage + w.pageCount) * 4096;
    if (a < heap[1] && heap[0] < b) {
      throw new Error(`${m.name}: vCPU ${i}'s workload writes [${a}, ${b}), which overlaps the driver's rings and buffers [${heap[0]}, ${heap[1]}); limit it with workload.pages=${Math.floor(heap[0] / 4096)}`);
    }
  });
}

function listenIrq(m: Machine, name: string, irq: InterruptRecorder): () => void {
  return m.interrupts.listen({
    msi: (src, msg) => { if (src === name) irq.msi(msg); },
    intx: (src, pin, level) => { if (src === name) irq.intx(pin, level); },
  });
}

/**
 * Start sequence-numbered traffic from `machine`'s virtio-net to `peer` (a
 * Machine or a bare NetPeer) and back. The machine must have a virtio-net
 * with `backend=host` (the default). Resolves once both drivers are up.
 */
export async function startNetTraffic(machine: Machine, peer: Machine | NetPeer, opts: NetTrafficOptions = {}): Promise<NetTraffic> {
  const window = opts.window ?? 64, burst = opts.burst ?? 16, interval = opts.intervalMs ?? 1;
  const frameBytes = opts.frameBytes ?? 128, linkQueue = opts.linkQueue ?? 4096, signTimeoutMs = opts.signTimeoutMs ?? 1000;
  if (!(frameBytes >= 64 && frameBytes <= 1514)) throw new RangeError(`frameBytes ${frameBytes}: want 64..1514`);
  const heap = opts.heap ?? defaultHeap(machine);
  checkHeap(machine, heap);

  const mkMachineSide = (m: Machine, h: [number, number], init: boolean, node?: string, driver?: VirtioNetDriver, irq?: InterruptRecorder): Side => {
    const found = machineNic(m, node);
    if (found.dev.backend.kind !== "host") throw new Error(`${m.name}: ${found.node} has backend=${found.dev.backend.kind}; traffic needs backend=host`);
    const t = transportOf(m, found.node);
    const rec = irq ?? new InterruptRecorder();
    const ram = new GuestRam(m.core);
    let drv = driver;
    if (!drv) drv = new VirtioNetDriver(t, ram, rec, { heap: h, queueSize: 256, rxBuffers: opts.rxBuffers });
    else { t.msix = (drv.transport as PciTransport).msix; drv.rebind(t, ram); }
    return { machine: m, nic: found.dev.nic, dev: found.dev, driver: drv, irq: rec, unlisten: listenIrq(m, found.dev.name, rec), lease: null, signing: false, up: false, gen: 0, kickOnUp: !init };
  };

  const a = mkMachineSide(machine, heap, true, opts.node);
  let b: Side;
  if ("devicesByNode" in peer) {
    const ph = opts.peerHeap ?? defaultHeap(peer);
    checkHeap(peer, ph);
    b = mkMachineSide(peer, ph, true);
  } else {
    b = { machine: null, nic: peer.nic, dev: null, driver: new VirtioNetDriver(new PciTransport(peer.nic.pci!, { msixVectors: 64 }), new GuestRam(peer.core), peer.irq, { queueSize: 256 }),
      irq: peer.irq, unlisten: null, lease: null, signing: false, up: true, gen: 0, kickOnUp: false };
  }

  const st = { sent: 0, received: 0, peerReceived: 0, duplicated: 0, outOfOrder: 0, linkDropped: 0, pauses: 0, repoints: 0 };
  let seenReply: Uint8Array = new Uint8Array(1024), seenReq: Uint8Array = new Uint8Array(1024);
  let maxReply = -1, maxReq = -1;
  const mark = (arr: Uint8Array, seq: number): [Uint8Array, boolean] => {
    let x = arr;
    if (seq >= x.length) { const n = new Uint8Array(Math.max(seq + 1, x.length * 2)); n.set(x); x = n; }
    const dup = x[seq] === 1;
    x[seq] = 1;
    return [x, dup];
  };

  // One host link per NIC: what a NIC transmits waits in the other NIC's link
  // until that side is up and its turn comes (pump). A full queue drops the
  // frame, counted as the link's loss and told to the machine's NIC.
  const linkOf = (s: Side, peer: () => HostLink) => new HostLink(s.nic, (f) => peer().deliver(f), {
    delivery: "manual", maxPending: linkQueue, up: () => s.up, onOverflow: (n) => s.dev?.noteLinkLoss(n),
  });
  const linkA: HostLink = linkOf(a, () => linkB);
  const linkB: HostLink = linkOf(b, () => linkA);

  let sending = true, stopped = false, timer: ReturnType<typeof setTimeout> | null = null;
  let nicDropBase = 0;
  const nicDrops = (s: Side) => { const c = s.nic.counters(); return Number(c.rxDropped + c.txSwitchDropped); };
  let droppedOnRetired = 0;

  const sign = (s: Side) => {
    if (!s.machine || s.signing || s.lease) return;
    s.signing = true;
    const gen = s.gen, m = s.machine;
    m.signLease(() => { if (gen === s.gen) s.up = false; st.pauses++; return true; }, { timeoutMs: signTimeoutMs }).then((lease) => {
      if (gen !== s.gen || stopped || s.lease) { lease.break(); return; }
      s.signing = false;
      s.lease = lease;
      s.up = true;
    }, () => { if (gen === s.gen) s.signing = false; });
  };

  // Keeps the side's lease current; false while it must not touch guest RAM.
  const holds = (s: Side): boolean => {
    if (!s.machine) return true;
    if (s.lease && (s.lease.poll() || s.lease.broken)) { s.lease.break(); s.lease = null; s.up = false; }
    if (!s.lease) { sign(s); return false; }
    return s.up;
  };

  const peerStep = () => {
    b.driver.service();
    b.driver.poll();
    for (const rx of b.driver.takeReceived()) {
      const d = rx.data;
      if (d.length < 19 || d[12] !== TRAFFIC_ETHERTYPE >> 8 || d[13] !== (TRAFFIC_ETHERTYPE & 0xff) || d[18] !== KIND_REQUEST) continue;
      const seq = seqOf(d);
      let dup: boolean;
      [seenReq, dup] = mark(seenReq, seq);
      if (dup) st.duplicated++;
      else { st.peerReceived++; if (seq < maxReq) st.outOfOrder++; else maxReq = seq; }
      const reply = d.slice();
      reply.set(d.subarray(6, 12), 0);
      reply.set(b.driver.mac, 6);
      reply[18] = KIND_REPLY;
      // A full TX ring: the peer's reply waits for the next tick (bounded retries, then counted lost).
      let ok = b.driver.transmit(reply);
      for (let i = 0; !ok && i < 64; i++) { b.driver.poll(); ok = b.driver.transmit(reply); }
      if (!ok) st.linkDropped++;
    }
  };

  const machineStep = () => {
    a.driver.service();
    a.driver.poll();
    for (const rx of a.driver.takeReceived()) {
      const d = rx.data;
      if (d.length < 19 || d[12] !== TRAFFIC_ETHERTYPE >> 8 || d[13] !== (TRAFFIC_ETHERTYPE & 0xff) || d[18] !== KIND_REPLY) continue;
      const seq = seqOf(d);
      let dup: boolean;
      [seenReply, dup] = mark(seenReply, seq);
      if (dup) st.duplicated++;
      else { st.received++; if (seq < maxReply) st.outOfOrder++; else maxReply = seq; }
    }
    if (!sending) return;
    for (let i = 0; i < burst && st.sent - st.received < window && (opts.maxFrames === undefined || st.sent < opts.maxFrames); i++) {
      const f = frame({ dst: b.driver.mac, src: a.driver.mac, seq: st.sent, length: frameBytes, ethertype: TRAFFIC_ETHERTYPE });
      f[18] = KIND_REQUEST;
      if (!a.driver.transmit(f)) break; // TX ring full: try again next tick
      st.sent++;
    }
  };

  const tick = () => {
    timer = null;
    if (stopped) return;
    try {
      const aUp = holds(a), bUp = holds(b);
      if (aUp && a.kickOnUp) { a.kickOnUp = false; a.nic.resume(); }
      // The machine's replies are delivered after its driver ran, so at any
      // pause some wait on the link, some in the NIC's backlog (beyond the
      // posted buffers) and some in the RX ring: every place a frame can be.
      // pump() hands over the frames queued at entry; later ones wait for the next tick.
      if (aUp) { machineStep(); linkA.pump(); }
      if (bUp) { linkB.pump(); peerStep(); }
    } finally {
      if (!stopped) timer = setTimeout(tick, interval);
    }
  };

  // Bring both drivers up (under their leases: init writes guest RAM).
  const initSide = async (s: Side) => {
    if (s.machine) {
      s.lease = await s.machine.signLease(() => { s.up = false; st.pauses++; return true; }, { timeoutMs: signTimeoutMs * 5 });
      s.up = true;
    }
    s.driver.init();
  };
  await initSide(a);
  await initSide(b);
  nicDropBase = nicDrops(a) + nicDrops(b);
  timer = setTimeout(tick, 0);

  const stats = (): NetTrafficStats => {
    // The links' `lost` excludes refusals with ERR_FULL: the NIC counted those (rxDropped).
    const dropped = st.linkDropped + linkA.counters().lost + linkB.counters().lost + nicDrops(a) + nicDrops(b) + droppedOnRetired - nicDropBase;
    return {
      sent: st.sent, received: st.received, peerReceived: st.peerReceived, duplicated: st.duplicated, outOfOrder: st.outOfOrder,
      inFlight: st.sent - st.received, dropped, lost: stopped ? st.sent - st.received : dropped,
      linkQueued: { toMachine: linkA.pendingFrames, toPeer: linkB.pendingFrames }, pauses: st.pauses, repoints: st.repoints, stopped,
    };
  };

  const release = (s: Side) => {
    s.gen++;
    s.unlisten?.();
    s.unlisten = null;
    s.lease?.break();
    s.lease = null;
    s.up = false;
  };

  return {
    driver: a.driver,
    stats,
    framesLost: () => stats().lost,
    repoint(newMachine: Machine): void {
      if (stopped) throw new Error("repoint: traffic is stopped");
      checkHeap(newMachine, heap);
      // A NIC the driver never set up (state not restored) would see ring indices out of nowhere.
      const target = machineNic(newMachine, opts.node).dev.nic;
      if ((target.status & DRIVER_OK) === 0) throw new Error(`repoint: ${newMachine.name}'s ${target.name} is not running a driver (restore its state first)`);
      const old = a;
      droppedOnRetired += nicDrops(old);
      release(old);
      const next = mkMachineSide(newMachine, heap, false, opts.node, old.driver, old.irq);
      Object.assign(a, next, { gen: old.gen + 1 });
      linkA.retarget(a.nic); // what waited for the old NIC goes to the new one
      nicDropBase += nicDrops(a);
      st.repoints++;
      sign(a);
    },
    async stop(o = {}): Promise<NetTrafficStats> {
      sending = false;
      if (o.drain ?? true) {
        const until = performance.now() + (o.timeoutMs ?? 5000);
        while (st.sent > st.received && performance.now() < until) await new Promise((r) => setTimeout(r, 2));
      }
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      for (const s of [a, b]) release(s);
      linkA.detach(); linkB.detach(); // what waits stays counted in linkQueued
      return stats();
    },
  };
}
