// The same core behaviour on every build: the optimised SIMD build with
// shared memory, the unshared build for pages without SharedArrayBuffer, and
// the debug build the other suites use.
import { describe, it, expect } from "vitest";
import { createVmCore, Status, PAGE_SIZE, type WasmVariant } from "../../src/index.js";

describe.each<WasmVariant>(["release", "unshared", "debug"])("%s build", (variant) => {
  it("bounds-checks, dirty-marks, harvests and round-trips the layout", async () => {
    const vm = await createVmCore({ ramBytes: 8 << 20, variant, holes: [[4 << 20, 1 << 20]] });
    expect(vm.memory.buffer instanceof SharedArrayBuffer).toBe(variant !== "unshared");
    vm.dirty.enable();
    vm.guest.writeU32((8 << 20) - 4, 7);
    expect(vm.guest.check(8 << 20, 1)).toBe(Status.ERR_RANGE);
    expect(vm.guest.check(4 << 20, 1)).toBe(Status.ERR_HOLE);
    vm.guest.writeBytes(3 * PAGE_SIZE - 1, new Uint8Array(2));
    vm.dirty.markRange(100, 70);
    expect(vm.dirty.harvest()).toEqual([{ page: 2, count: 2 }, { page: 100, count: 70 }, { page: 2047, count: 1 }]);
    const peer = await createVmCore({ ramBytes: 8 << 20, variant });
    expect(peer.restoreLayout(vm.saveLayout())).toBe(Status.OK);
    expect(peer.guest.check(4 << 20, 1)).toBe(Status.ERR_HOLE);
  });

  it("refuses to share an unshared memory with workers", async () => {
    const vm = await createVmCore({ ramBytes: 1 << 20, variant });
    if (variant === "unshared") expect(() => vm.shareable()).toThrow(/ERR_UNSUPPORTED/);
    else expect(vm.shareable().memory).toBe(vm.memory);
  });
});
