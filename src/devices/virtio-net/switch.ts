// The in-wasm learning switch (assembly/net/switch.ts) as virtio-net's host
// glue sees it: ports are VirtioNet devices of one VM, and frames between
// them never cross into JS.

import { Status, VmdevError } from "../../status.js";
import type { VmCore } from "../../vm-core.js";
import type { SwitchPort, VirtioNet } from "./device.js";

/**
 * A learning Ethernet switch inside wasm: frames sent by one port's guest
 * reach the other ports' receive paths without crossing into JS. Unknown and
 * group destinations are flooded; source MACs are learned per port.
 */
export class VirtualSwitch implements SwitchPort {
  private ports: VirtioNet[] = [];
  private destroyed = false;
  private constructor(readonly core: VmCore, readonly id: number) {}

  /** A new switch in `core` (at most 4 per VM). */
  static create(core: VmCore): VirtualSwitch {
    const id = core.exports.vnet_switch_create();
    if (id < 0) throw new VmdevError(-id, "vnet_switch_create");
    return new VirtualSwitch(core, id);
  }

  /** Make `dev` a port (up to 16); it leaves any earlier link or switch. */
  attach(dev: VirtioNet): void {
    if (dev.core !== this.core) throw new VmdevError(Status.ERR_INVALID_ARG, "attach: device of another VM");
    if (this.destroyed) throw new VmdevError(Status.ERR_BAD_HANDLE, "attach: the switch was destroyed");
    dev.disconnect();
    const s = this.core.exports.vnet_switch_attach(this.id, dev.handle);
    if (s !== Status.OK) throw new VmdevError(s, "vnet_switch_attach");
    this.ports = [...this.ports, dev];
    for (const p of this.ports) p.joinSwitch(this, this.ports);
  }

  /** Take `dev` off the switch. */
  detach(dev: VirtioNet): void { if (this.ports.includes(dev)) dev.disconnect(); }

  /** Devices attached now. */
  get portCount(): number { return this.ports.length; }

  /** Remove the switch: its ports send to `onTransmit` again and the id is free for the next create. Safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    for (const p of this.ports) p.disconnect();
    this.core.exports.vnet_switch_destroy(this.id);
    this.destroyed = true;
  }

  /** @internal */
  dropPort(dev: VirtioNet): void {
    this.ports = this.ports.filter((p) => p !== dev);
    for (const p of this.ports) p.setPeers(this.ports);
  }
}
