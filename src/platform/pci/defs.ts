// Configuration-space layout of the PCI platform: the common header (PCI
// Local Bus 3.0 §6.1), the type 1 header of a PCI-to-PCI bridge (PCI-to-PCI
// Bridge Architecture 1.2 §3.2), the PCI Express capability (PCIe Base
// §7.5.3) and the SR-IOV extended capability (PCIe Base §9.3.3).

/** Common header. */
export const Cfg = {
  VENDOR: 0x00, DEVICE: 0x02, COMMAND: 0x04, STATUS: 0x06, REVISION: 0x08, CLASS: 0x09,
  CACHE_LINE: 0x0c, HEADER_TYPE: 0x0e, BAR0: 0x10, CAP_PTR: 0x34, INT_LINE: 0x3c, INT_PIN: 0x3d,
} as const;

/** Command register bits (§6.2.2). */
export const Cmd = { IO: 1 << 0, MEMORY: 1 << 1, BUS_MASTER: 1 << 2, PARITY: 1 << 6, SERR: 1 << 8, INTX_DISABLE: 1 << 10 } as const;

/** Status bit: the function has a capability list (§6.2.3). */
export const STATUS_CAP_LIST = 0x10;
/** Header Type bit 7: a multi-function device (§6.2.1); bits 6:0 the layout. */
export const HEADER_MULTI_FUNCTION = 0x80;
export const HEADER_TYPE_NORMAL = 0x00;
export const HEADER_TYPE_BRIDGE = 0x01;

/** Type 1 header (Bridge Architecture 1.2 §3.2.5). */
export const Bridge = {
  PRIMARY_BUS: 0x18, SECONDARY_BUS: 0x19, SUBORDINATE_BUS: 0x1a, SEC_LATENCY: 0x1b,
  IO_BASE: 0x1c, IO_LIMIT: 0x1d, SEC_STATUS: 0x1e,
  MEM_BASE: 0x20, MEM_LIMIT: 0x22, PREF_BASE: 0x24, PREF_LIMIT: 0x26, PREF_BASE_UPPER: 0x28, PREF_LIMIT_UPPER: 0x2c,
  IO_BASE_UPPER: 0x30, IO_LIMIT_UPPER: 0x32, ROM: 0x38, CONTROL: 0x3e,
} as const;

/** Bridge Control bits (§3.2.5.18). */
export const BridgeCtl = { PARITY: 1 << 0, SERR: 1 << 1, ISA: 1 << 2, VGA: 1 << 3, VGA16: 1 << 4, MASTER_ABORT: 1 << 5, SEC_BUS_RESET: 1 << 6 } as const;

/** Granularity of a bridge's I/O window (4 KiB) and memory windows (1 MiB). */
export const IO_WINDOW_ALIGN = 0x1000;
export const MEM_WINDOW_ALIGN = 0x10_0000;

/** Class code of a PCI-to-PCI bridge: base 06h, sub-class 04h, interface 00h. */
export const CLASS_PCI_BRIDGE = 0x060400;

/** PCI Express capability (PCIe Base §7.5.3): ID, its size in version 2, the port types used. */
export const PCIE_CAP_ID = 0x10;
export const PCIE_CAP_SIZE = 0x3c;
export const PcieType = { ENDPOINT: 0x0, ROOT_PORT: 0x4, DOWNSTREAM_PORT: 0x6 } as const;

/** Extended configuration space starts here (PCIe Base §7.2.2); a PCIe function's is 4 KiB. */
export const EXT_CFG_BASE = 0x100;
export const EXT_CFG_SIZE = 0x1000;

/** The SR-IOV extended capability (PCIe Base §9.3.3), offsets from its header. */
export const SRIOV_CAP_ID = 0x0010;
export const Sriov = {
  HEADER: 0x00, CAPS: 0x04, CONTROL: 0x08, STATUS: 0x0a, INITIAL_VFS: 0x0c, TOTAL_VFS: 0x0e,
  NUM_VFS: 0x10, FN_DEP_LINK: 0x12, FIRST_VF_OFFSET: 0x14, VF_STRIDE: 0x16, VF_DEVICE: 0x1a,
  SUPPORTED_PAGE_SIZES: 0x1c, SYSTEM_PAGE_SIZE: 0x20, VF_BAR0: 0x24, MIGRATION_STATE: 0x3c,
} as const;
/** Size of the SR-IOV capability structure. */
export const SRIOV_CAP_SIZE = 0x40;
/** SR-IOV Control bits (§9.3.3.3). */
export const SriovCtl = { VF_ENABLE: 1 << 0, VF_MIGRATION: 1 << 1, VF_MIGRATION_INT: 1 << 2, VF_MSE: 1 << 3, ARI: 1 << 4 } as const;

/** A routing ID (PCIe "requester ID"): bus << 8 | device << 3 | function. */
export const rid = (bus: number, dev: number, fn: number): number => ((bus & 0xff) << 8) | ((dev & 0x1f) << 3) | (fn & 7);
/** Routing ID as text, "bb:dd.f" in hex as lspci prints it. */
export const ridText = (r: number): string =>
  `${((r >> 8) & 0xff).toString(16).padStart(2, "0")}:${((r >> 3) & 0x1f).toString(16).padStart(2, "0")}.${r & 7}`;

/** All ones of an access width: what a read of nothing returns (§6.1). */
export const ones = (width: 1 | 2 | 4): number => (width === 4 ? 0xffffffff : width === 2 ? 0xffff : 0xff);
/** A config access is 1, 2 or 4 bytes, naturally aligned (§3.2.2.3.2: byte enables inside one dword). */
export const accessOk = (off: number, width: number, size: number): boolean =>
  (width === 1 || width === 2 || width === 4) && Number.isInteger(off) && off >= 0 && off % width === 0 && off + width <= size;
