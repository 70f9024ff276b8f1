// Legacy shorthands, as bhyve(8) still accepts next to `-o`: each maps onto
// configuration keys.
//   -s 3,virtio-net,mac=…        → pci.0.3.0.device=virtio-net, pci.0.3.0.mac=…
//   -s 0:4:1,memtest,size=64K    → pci.0.4.1.device=memtest, pci.0.4.1.size=64K
//   -m 512M                      → memory.size=512M
//   -c 4 / -c cpus=4             → cpus=4

import { ConfigError, type ConfigTree } from "./tree.js";
import { pciNodeName } from "./pci-node.js";

/** Per-device legacy hints: names given to bare (positional) options, in order. */
export type PositionalNames = (device: string) => readonly string[];

/** The config node of a PCI slot spec: `slot`, `slot:func` or `bus:slot:func`. */
export function pciNode(slotSpec: string): string {
  const parts = slotSpec.split(":");
  if (parts.length > 3 || parts.some((p) => !/^\d+$/.test(p))) throw new ConfigError("", `bad PCI slot '${slotSpec}' (want slot, slot:func or bus:slot:func)`);
  const nums = parts.map(Number);
  const [bus, slot, func] = parts.length === 3 ? nums : parts.length === 2 ? [0, nums[0], nums[1]] : [0, nums[0], 0];
  if (bus > 255) throw new ConfigError("", `PCI bus ${bus} is out of range 0..255`);
  if (slot > 31) throw new ConfigError("", `PCI slot ${slot} is out of range 0..31`);
  if (func > 7) throw new ConfigError("", `PCI function ${func} is out of range 0..7`);
  return pciNodeName({ bus, slot, func });
}

/**
 * Apply a `-s slot,emulation[,conf]` device argument. Options are
 * comma-separated `key=value`; a bare word takes the device's next positional
 * name (e.g. a backend), or becomes `word=true` as in bhyve.
 */
export function applyDeviceArg(tree: ConfigTree, arg: string, positional: PositionalNames = () => []): string {
  const [slotSpec, device, ...opts] = arg.split(",");
  if (!slotSpec || !device) throw new ConfigError("", `device argument '${arg}': want slot,emulation[,options]`);
  const node = pciNode(slotSpec);
  tree.set(`${node}.device`, device);
  const names = positional(device);
  let next = 0;
  for (const opt of opts) {
    if (opt === "") continue;
    const eq = opt.indexOf("=");
    if (eq > 0) tree.set(`${node}.${opt.slice(0, eq)}`, opt.slice(eq + 1));
    else if (eq === 0) throw new ConfigError(node, `option '${opt}' has no key`);
    else if (next < names.length) tree.set(`${node}.${names[next++]}`, opt);
    else tree.set(`${node}.${opt}`, "true");
  }
  return node;
}

/** Apply `-m size`. */
export function applyMemoryArg(tree: ConfigTree, arg: string): void { tree.set("memory.size", arg); }

/** Apply `-c n` or `-c cpus=n` (topology keys other than cpus are not modelled and refused). */
export function applyCpusArg(tree: ConfigTree, arg: string): void {
  for (const part of arg.split(",")) {
    if (/^\d+$/.test(part)) { tree.set("cpus", part); continue; }
    const m = /^cpus=(.*)$/.exec(part);
    if (m) { tree.set("cpus", m[1]); continue; }
    throw new ConfigError("cpus", `-c option '${part}' is not supported (only the vCPU count)`);
  }
}
