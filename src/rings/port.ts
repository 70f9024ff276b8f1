// A NIC's backend port over a netmap ring pair (assembly/rings/port.ts):
// egress (an "rx" ring: the device delivers what its guest sent) and ingress
// (a "tx" ring: the backend sends frames for the guest). The backend works
// the rings with NetmapRingUser (any thread) or nmr_user_send/recv (wasm);
// the NIC binds to the port and switches between copy and ring mode.

import { VmdevError, Status } from "../status.js";
import type { VmCore } from "../vm-core.js";
import { RingsDefs } from "../generated/constants.js";
import { RingObject, handleOf } from "./object.js";
import type { NetmapRing } from "./netmap.js";

const { RING_KIND_PORT, PORT_RING, PORT_LEAVING } = RingsDefs;

export type PortMode = "copy" | "ring";

export interface RingPortOptions {
  /** Device → backend: a ring of direction "rx". */
  egress: NetmapRing;
  /** Backend → device: a ring of direction "tx". */
  ingress: NetmapRing;
}

export class RingPort extends RingObject {
  readonly egress: NetmapRing;
  readonly ingress: NetmapRing;
  private constructor(core: VmCore, handle: number, opts: RingPortOptions) {
    super(core, handle, RING_KIND_PORT);
    this.egress = opts.egress;
    this.ingress = opts.ingress;
  }

  /** A port in copy mode; from now on the rings' device side is the port's. */
  static create(core: VmCore, opts: RingPortOptions): RingPort {
    if (opts.egress.core !== core || opts.ingress.core !== core) throw new VmdevError(Status.ERR_INVALID_ARG, "port_create: rings of another VM");
    return new RingPort(core, handleOf(core.exports.port_create(opts.egress.handle, opts.ingress.handle), "port_create"), opts);
  }

  get mode(): PortMode {
    const m = this.core.exports.port_mode(this.handle);
    if (m < 0) throw new VmdevError(-m, "port_mode");
    return m === PORT_RING ? "ring" : "copy";
  }
  /** Leaving ring mode: the backend still has egress frames to take or ingress frames wait. */
  get leaving(): boolean { return this.core.exports.port_phase(this.handle) === PORT_LEAVING; }
  /** Handle of the bound device, 0 if none. */
  get device(): number { return this.core.exports.port_device(this.handle); }
}
