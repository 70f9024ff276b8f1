// Inspector decoders of the PCI platform's saved states: a bridge's type 1
// header (bus numbers, windows, command and Bridge Control by name) and an
// SR-IOV capability (control bits, VF counts, offset, stride, VF BARs) with
// each VF's own envelope inspected in turn.

import { HostKind } from "../../state.js";
import { DecodeError, flagNames, hex, part, type Fields } from "../../inspect/fields.js";
import type { DeviceDecoder } from "../../inspect/types.js";
import { PciBridge, BridgeTag } from "./bridge.js";
import { SriovTag } from "./sriov.js";
import { Bridge, Cfg, SRIOV_CAP_SIZE, Sriov } from "./defs.js";

const COMMAND_BITS = { 0: "io", 1: "memory", 2: "bus-master", 6: "parity", 8: "serr", 10: "intx-disable" };
const CONTROL_BITS = { 0: "parity", 1: "serr", 2: "isa", 3: "vga", 4: "vga16", 5: "master-abort", 6: "secondary-bus-reset" };
const SRIOV_BITS = { 0: "vf-enable", 1: "vf-migration", 2: "vf-migration-interrupt", 3: "vf-mse", 4: "ari-hierarchy" };
/** VF states listed at most (TotalVFs is at most 256). */
const MAX_VFS = 256;

const range = (w: [number, number] | null) => (w ? `${hex(w[0])}-${hex(w[1])}` : "off");

export const pciBridgeDecoder: DeviceDecoder = {
  kind: HostKind.pciBridge,
  name: "pci-bridge",
  fieldName: (t) => (t === BridgeTag.CONFIG ? "config" : undefined),
  decode(f: Fields) {
    const img = f.bytes(BridgeTag.CONFIG, 256);
    const b = new PciBridge();
    b.regs.bytes.set(img);
    const r = (o: number, w: 1 | 2 | 4) => b.regs.read(o, w);
    return {
      id: `${hex(r(Cfg.VENDOR, 2), 4)}:${hex(r(Cfg.DEVICE, 2), 4)}`,
      command: flagNames(r(Cfg.COMMAND, 2), COMMAND_BITS),
      status: hex(r(Cfg.STATUS, 2), 4),
      buses: { primary: b.primaryNumber, secondary: b.secondaryNumber, subordinate: b.subordinateNumber },
      windows: { io: range(b.ioWindow()), memory: range(b.memWindow()), prefetchable: range(b.prefWindow()) },
      secondaryStatus: hex(r(Bridge.SEC_STATUS, 2), 4),
      bridgeControl: flagNames(r(Bridge.CONTROL, 2), CONTROL_BITS),
      interruptLine: r(Cfg.INT_LINE, 1),
    };
  },
};

export const sriovDecoder: DeviceDecoder = {
  kind: HostKind.pciSriov,
  name: "pci-sriov",
  fieldName: (t) => (t === SriovTag.CAP ? "capability" : t === SriovTag.VF ? "vf" : undefined),
  async decode(f, ctx) {
    const cap = part(() => {
      const b = f.bytes(SriovTag.CAP, SRIOV_CAP_SIZE);
      const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const u16 = (o: number) => dv.getUint16(o, true), u32 = (o: number) => dv.getUint32(o, true);
      if ((u32(Sriov.HEADER) & 0xffff) !== 0x0010) throw new DecodeError(`capability ID ${hex(u32(Sriov.HEADER) & 0xffff, 4)} is not SR-IOV's`);
      return {
        control: flagNames(u16(Sriov.CONTROL), SRIOV_BITS),
        initialVfs: u16(Sriov.INITIAL_VFS), totalVfs: u16(Sriov.TOTAL_VFS), numVfs: u16(Sriov.NUM_VFS),
        firstVfOffset: hex(u16(Sriov.FIRST_VF_OFFSET), 4), vfStride: u16(Sriov.VF_STRIDE), vfDeviceId: hex(u16(Sriov.VF_DEVICE), 4),
        supportedPageSizes: hex(u32(Sriov.SUPPORTED_PAGE_SIZES)), systemPageSize: hex(u32(Sriov.SYSTEM_PAGE_SIZE)),
        vfBars: Array.from({ length: 6 }, (_, i) => hex(u32(Sriov.VF_BAR0 + 4 * i), 8)),
      };
    });
    const vfs = [];
    for (const v of f.list.filter((x) => x.tag === SriovTag.VF).slice(0, MAX_VFS)) vfs.push(await ctx.inspect(v.value));
    return { capability: cap, vfs };
  },
};
