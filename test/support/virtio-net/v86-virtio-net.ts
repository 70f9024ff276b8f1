// vmdev's virtio-net in v86 with the Debian guest's virtio_net driver (the
// generic NicGuest harness), and what the device holds as the wasm keeps it:
// its configuration MAC and receive filter, read from its live saved state
// through the inspector's virtio-net decoder (src/devices/virtio-net/inspect.ts).
import { VirtioNet } from "../../../src/devices/virtio-net/device.js";
import { inspectDevice } from "../../../src/inspect/index.js";
import type { GuestFiles } from "../v86-guest.js";
import { NicGuest, type NicGuestOptions } from "../v86-nic-guest.js";

export const GUEST_MAC = "52:54:00:12:34:56";
export const PEER_MAC = "52:54:00:00:00:02";

/** Boot the guest with vmdev's virtio-net (modern virtio-pci, INTx through the adapter). */
export function bootVirtioNetGuest(files: GuestFiles, opts: Omit<NicGuestOptions<VirtioNet>, "create">): Promise<NicGuest<VirtioNet>> {
  return NicGuest.boot(files, {
    ...opts,
    create: (core, adapter) => {
      const device = VirtioNet.create(core, { mac: GUEST_MAC, transport: "pci", interrupts: adapter.interrupts, name: "net0" });
      return { device, pci: device.pci! };
    },
  });
}

/** The receive filter's view of the decoder (assembly/virtio-net/filter.ts, region RF_*). */
export interface NetFilterView {
  rxModes: string[];
  mac: string;
  unicast: { overflow: boolean; entries: string[] };
  multicast: { overflow: boolean; entries: string[] };
}

/** The device's configuration MAC, the features the driver acked (names) and the receive filter, as its saved state holds them. */
export async function inspectNet(device: VirtioNet): Promise<{ mac: string; acked: string[]; filter: NetFilterView }> {
  const [dump] = await inspectDevice(device);
  if (dump.state.errors.length > 0 || dump.state.decodeError) throw new Error(`inspect: ${[...dump.state.errors, dump.state.decodeError].filter(Boolean).join("; ")}`);
  const d = dump.state.device as { mac: unknown; filter: unknown; acked: unknown };
  const bad = (x: unknown) => typeof x === "object" && x !== null && "error" in x;
  if (bad(d.mac) || bad(d.filter) || bad(d.acked)) throw new Error(`inspect: ${JSON.stringify({ mac: d.mac, acked: d.acked, filter: d.filter })}`);
  const f = d.filter as NetFilterView;
  if (bad(f.unicast.entries) || bad(f.multicast.entries)) throw new Error(`inspect: ${JSON.stringify(f)}`);
  return { mac: d.mac as string, acked: (d.acked as { names: string[] }).names, filter: f };
}
