// The one export surface of vmdev.wasm. Each area keeps its exports in its
// own file; test/abi.test.ts pins the whole list.
export * from "./core/exports";
export * from "./machine/exports";
export * from "./memtest/exports";
export * from "./apic/exports";
export * from "./ioapic/exports";
export * from "./migration/exports";
export * from "./virtio/exports";
export * from "./virtio-net/exports";
export * from "./net/exports";
export * from "./rings/exports";
export * from "./e1000/exports";
export * from "./ne2k/exports";
