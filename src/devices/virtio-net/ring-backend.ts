// virtio-net's backend in ring mode (assembly/virtio-net/ring-port.ts): the NIC
// bound to a RingPort exchanges frames with a backend through the port's
// rings instead of `onTransmit` and `receive`, and switches between the two
// with traffic running and the link up.

import { Status, VmdevError, statusName } from "../../status.js";
import type { VirtioNet } from "./device.js";
import type { RingPort, PortMode } from "../../rings/port.js";
import { ExclusiveRefusal, type ExclusiveOp } from "../../net/exclusive.js";

export class VirtioNetRingBackend {
  private bound = true;
  private constructor(readonly nic: VirtioNet, readonly port: RingPort) {}

  /** Bind `nic` (linked to nothing) to `port`, in copy mode: frames still go to onTransmit until setMode("ring"). */
  static attach(nic: VirtioNet, port: RingPort): VirtioNetRingBackend {
    if (nic.core !== port.core) throw new VmdevError(Status.ERR_INVALID_ARG, "vnet_port_attach: port of another VM");
    const s = nic.core.exports.vnet_port_attach(nic.handle, port.handle);
    if (s !== Status.OK) throw new VmdevError(s, "vnet_port_attach");
    return new VirtioNetRingBackend(nic, port);
  }

  get mode(): PortMode { return this.port.mode; }
  /** Still bound to its port (detach not called). */
  get isBound(): boolean { return this.bound; }
  /** A switch to copy mode is waiting for the backend to drain the rings. */
  get switching(): boolean { return this.port.leaving; }

  /**
   * Serve the port on the NIC's thread whenever the backend may have moved:
   * its frames into the guest, TX restarted when egress slots came back, a
   * switch to copy mode finished once drained. Returns ingress slots taken,
   * or a negative Status (-ERR_CORRUPT: the backend broke the ring's rules;
   * counted, the ring reset).
   */
  sync(): number {
    const n = this.nic.core.exports.vnet_port_sync(this.nic.handle, this.port.handle);
    this.nic.flush();
    return n;
  }

  /**
   * Switch to `mode` without touching the link. "ring" is immediate; "copy"
   * returns false while the backend still holds egress frames or ingress
   * frames wait (the NIC's TX waits meanwhile): call sync() after the
   * backend ran until `switching` is false. Returns true when in `mode`.
   * No other thread may drive the NIC during the call.
   */
  setMode(mode: PortMode): boolean {
    const e = this.nic.core.exports;
    // Copy-mode frames still in the NIC's outbox go to onTransmit before any frame goes to the ring.
    this.nic.flush();
    const s = e.vnet_port_mode(this.nic.handle, this.port.handle, mode === "ring" ? 1 : 0);
    this.nic.flush();
    if (s === Status.OK || s === Status.ERR_ALREADY) return true;
    // Still leaving: the backend holds egress slots, or wrote an impossible index (counted; the ring was reset and the next sync retries).
    if ((s === Status.ERR_MORE || s === Status.ERR_CORRUPT) && mode === "copy") return false;
    throw new VmdevError(s, `vnet_port_mode(${mode}): ${statusName(s)}`);
  }

  /** Unbind (in copy mode). Safe to call twice. */
  detach(): void {
    if (!this.bound) return;
    const s = this.nic.core.exports.vnet_port_detach(this.nic.handle, this.port.handle);
    if (s !== Status.OK) throw new VmdevError(s, "vnet_port_detach");
    this.bound = false;
  }
}

/**
 * The switch between copy and ring mode as an exclusive operation
 * (src/net/exclusive.ts: `new Exclusive(virtioNetExclusive(nic)).run(ringModeOp(backend, mode))`),
 * so it never interleaves with a MAC, MTU or VLAN change on the same NIC.
 * It runs on the quiesced device like the others, but the link stays up and
 * the guest's queues are only held for the swap; a switch to copy mode then
 * waits, by deferral, until the backend has given back every egress slot
 * and no ingress frame waits (`complete`, serving the port meanwhile), and
 * the serializer holds later operations until it has. Cancelled (on the
 * timeout or Exclusive.cancelRunning) it asks for ring mode again, which
 * ends the wait with the rings as they were.
 */
export function ringModeOp(backend: VirtioNetRingBackend, mode: PortMode): ExclusiveOp<PortMode> {
  return {
    name: `ringMode:${mode}`,
    prepare() {
      if (mode !== "ring" && mode !== "copy") throw new ExclusiveRefusal(Status.ERR_INVALID_ARG, `mode ${String(mode)}: "ring" or "copy"`);
      if (!backend.isBound) throw new ExclusiveRefusal(Status.ERR_BAD_STATE, "the backend was detached");
      return mode;
    },
    apply(_nic, m) {
      // False (still leaving ring mode) is not a failure: complete() waits for the backend.
      backend.setMode(m);
      return Status.OK;
    },
    complete(_nic, m) {
      if (backend.mode === m && !backend.switching) return true;
      backend.sync();
      return backend.mode === m && !backend.switching;
    },
    cancel(_nic, m) { if (m === "copy") backend.setMode("ring"); },
  };
}
