// `vmdev/testing`: a guest-side virtio driver model for tests, written from
// the virtio 1.2 specification independently of vmdev's devices (see
// src/testing/virtio/README.md): guest RAM access and a bump allocator, the
// mmio v2 and pci modern (+ MSI-X) transports, split virtqueues, the
// virtio-net driver, an interrupt recorder and sequence-numbered test frames.
export * from "./virtio/defs.js";
export * from "./virtio/frames.js";
export * from "./virtio/guest-ram.js";
export * from "./virtio/interrupts.js";
export * from "./virtio/split-queue.js";
export * from "./virtio/transport.js";
export * from "./virtio/net-driver.js";
export * as ne2k from "../guest/ne2k/index.js";
