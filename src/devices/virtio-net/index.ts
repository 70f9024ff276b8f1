// virtio-net's host room: the device API (device.ts), its PCI function
// (pci.ts), its backend port in ring mode
// (ring-backend.ts) and its counters (counters.ts), platform-neutral; the
// Machine glue (machine.ts) is Node's and exported from src/index.ts. The
// model itself is in assembly/virtio-net/ and assembly/virtio/.
export { VirtioNet, VIRTIO_STATUS_NEEDS_RESET, type VirtioNetOptions } from "./device.js";
export { VirtioNetRingBackend, ringModeOp } from "./ring-backend.js";
export { VIRTIO_NET_COUNTERS } from "./counters.js";
export { VIRTIO_PCI_BARS } from "./pci.js";
