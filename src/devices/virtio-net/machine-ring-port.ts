// A Machine NIC's backend port as a netmap ring pair (`ring_port=copy|ring`
// on a virtio-net with backend=host): the machine creates the pool, the two
// rings and the port, binds the NIC and starts it in the named mode. The
// embedder's backend works the rings on any thread that has the machine's
// memory (NetmapRingUser.attach(core, egress.handle) / ingress.handle, or
// nmr_user_send/recv in another wasm instance); `setMode` switches live
// through the NIC's exclusive-operation serializer, so it never interleaves
// with a MAC, MTU or VLAN change and the guest's link never drops.
//
// Not saved state: the binding is a host-side attachment like a link. A
// destination built from the same config comes up bound, in the mode its
// config names; frames the source's backend had not taken from the egress
// ring at the freeze belong to that backend.

import type { VmCore } from "../../vm-core.js";
import { RingPool } from "../../rings/pool.js";
import { NetmapRing } from "../../rings/netmap.js";
import { RingPort, type PortMode } from "../../rings/port.js";
import { VirtioNetRingBackend, ringModeOp } from "./ring-backend.js";
import type { VirtioNet } from "./device.js";
import type { Exclusive, ExclusiveResult } from "../../net/exclusive.js";

export interface MachineRingPortOptions {
  /** Slots per ring (a power of two, 16..4096). */
  slots: number;
  /** The NIC's MTU: pool buffers hold a frame of it. */
  mtu: number;
}

/** Pool sizing: both rings full plus as many buffers again for the slots' swaps. */
function poolShape(o: MachineRingPortOptions): { buffers: number; bufferSize: number } {
  // Ethernet header + VLAN tag + MTU, rounded up to a cache line; at least 2 KiB (the netmap default).
  const bufferSize = Math.max(2048, (o.mtu + 18 + 63) & ~63);
  return { buffers: 4 * o.slots, bufferSize };
}

/** Slack for the port's own block and the allocator's alignment. */
const PORT_SLACK = 4096;

export class MachineRingPort {
  private constructor(
    readonly pool: RingPool,
    /** Device → backend (the guest's frames): direction "rx" from the backend's side. */
    readonly egress: NetmapRing,
    /** Backend → device (frames for the guest): direction "tx". */
    readonly ingress: NetmapRing,
    readonly port: RingPort,
    readonly backend: VirtioNetRingBackend,
    private readonly serializer: () => Exclusive,
  ) {}

  /** Linear memory the pool, rings and port take. */
  static memoryBytes(core: VmCore, o: MachineRingPortOptions): number {
    const ring = Number(core.exports.nmr_memory_bytes(o.slots));
    return RingPool.memoryBytes(core, poolShape(o)) + 2 * ring + PORT_SLACK;
  }

  /** Build the pair for `nic` (on no link or switch), bind it and enter `mode`. Undone completely if any step fails. */
  static create(nic: VirtioNet, o: MachineRingPortOptions, mode: PortMode, serializer: () => Exclusive): MachineRingPort {
    const core = nic.core;
    const made: { destroy(): void }[] = [];
    try {
      const pool = RingPool.create(core, poolShape(o)); made.push(pool);
      const egress = NetmapRing.create(core, { pool, slots: o.slots, direction: "rx" }); made.push(egress);
      const ingress = NetmapRing.create(core, { pool, slots: o.slots, direction: "tx" }); made.push(ingress);
      const port = RingPort.create(core, { egress, ingress }); made.push(port);
      const backend = VirtioNetRingBackend.attach(nic, port);
      made.push({ destroy: () => backend.detach() });
      // A fresh port has nothing in flight: ring mode is entered at once.
      if (mode === "ring") backend.setMode("ring");
      return new MachineRingPort(pool, egress, ingress, port, backend, serializer);
    } catch (err) {
      for (const m of made.reverse()) { try { m.destroy(); } catch { /* the first error is the one reported */ } }
      throw err;
    }
  }

  get mode(): PortMode { return this.backend.mode; }
  /** A switch to copy mode waits for the backend to give back its egress slots. */
  get switching(): boolean { return this.backend.switching; }

  /** Serve the port on the NIC's thread after the backend moved (see VirtioNetRingBackend.sync). */
  sync(): number { return this.backend.sync(); }

  /**
   * Switch live to `mode` through the NIC's exclusive serializer. A switch to
   * copy mode completes once the backend has taken every egress frame and no
   * ingress frame waits; the result says if it did (never rejects).
   */
  setMode(mode: PortMode): Promise<ExclusiveResult> { return this.serializer().run(ringModeOp(this.backend, mode)); }

  /**
   * Tear down after the NIC is gone (its destroy left the port): port, rings,
   * pool. Frames still in the rings are the backend's and go with them.
   */
  destroy(): void {
    this.port.destroy();
    this.ingress.destroy();
    this.egress.destroy();
    this.pool.destroy();
  }
}
