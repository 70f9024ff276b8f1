// A NIC on v86's network bus: the same host link as every other frame path
// (src/net/host-link.ts), its far end v86's `net<id>` events. Frames from the
// bus are copied into the link's queue (no allocation per frame) and go to
// the NIC a window per wasm call on the next event-loop turn; what the guest
// transmits in one notify leaves as one batch, one bus event per frame (v86's
// adapters take one frame per event).

import { HostLink, type FrameEndpoint, type HostLinkOptions } from "../../net/host-link.js";
import type { V86Emulator } from "./types.js";

/** A NIC's link on v86's network bus, and how to take it off the bus. */
export interface V86NetworkBusLink { link: HostLink; disconnect(): void }

/**
 * {@link linkV86NetworkBus}, with a `disconnect` that closes the link and
 * unregisters its `net<id>-receive` listener.
 */
export function connectV86NetworkBus(nic: FrameEndpoint, emulator: V86Emulator, id = 0, opts: HostLinkOptions = {}): V86NetworkBusLink {
  const bus = emulator.emulator_bus;
  if (!bus) throw new Error("this v86 build has no emulator_bus");
  const link = new HostLink(nic, (frame) => bus.send(`net${id}-send`, frame), opts);
  // The link copies what it queues, so the bus may reuse its buffer; an ArrayBuffer or array is viewed first.
  const receive = ((frame: Uint8Array | ArrayBuffer | ArrayLike<number>) =>
    link.deliver(frame instanceof Uint8Array ? frame : new Uint8Array(frame as ArrayBuffer))) as (d: never) => void;
  bus.register(`net${id}-receive`, receive);
  return { link, disconnect: () => { link.close(); bus.unregister?.(`net${id}-receive`, receive); } };
}

/**
 * Connect the NIC to v86's network bus as its `net<id>` device: guest frames are
 * sent as `net<id>-send` (what v86's network adapters listen to) and
 * `net<id>-receive` frames go to the guest. Use with a `net_device` that names
 * no `type` (v86 then builds no NIC of its own; `relay_url` still picks v86's
 * network backend), or your own listener.
 */
export function linkV86NetworkBus(nic: FrameEndpoint, emulator: V86Emulator, id = 0, opts: HostLinkOptions = {}): HostLink {
  return connectV86NetworkBus(nic, emulator, id, opts).link;
}
