// PCI functions in the configuration: `pci.B.S.F` nodes (bhyve's keys), the
// one place their names are parsed and built.

/** A PCI address. */
export interface PciAddress { bus: number; slot: number; func: number }

const NODE = /^pci\.(\d+)\.(\d+)\.(\d+)$/;
const KEY = /^pci\.(\d+)\.(\d+)\.(\d+)\.(.+)$/;

/** The config node of a PCI function, e.g. "pci.0.3.0". */
export function pciNodeName(a: PciAddress): string { return `pci.${a.bus}.${a.slot}.${a.func}`; }

/** The address of a node "pci.B.S.F" (decimal; not range-checked), or null if `node` is not one. */
export function parsePciNode(node: string): PciAddress | null {
  const m = NODE.exec(node);
  return m ? { bus: Number(m[1]), slot: Number(m[2]), func: Number(m[3]) } : null;
}

/** A key below a PCI node ("pci.0.3.0.mac"): its address, the node's name ("pci.0.3.0") and the leaf ("mac"); null otherwise. */
export function parsePciKey(key: string): { address: PciAddress; node: string; leaf: string } | null {
  const m = KEY.exec(key);
  if (!m) return null;
  const address = { bus: Number(m[1]), slot: Number(m[2]), func: Number(m[3]) };
  return { address, node: pciNodeName(address), leaf: m[4] };
}
