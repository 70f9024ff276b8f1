// The guest boots in v86 to its /init before any vmdev device exists: proves the
// kernel, initramfs and BIOS from scripts/fetch-guest.mjs work under Node.
import { describe, expect, it } from "vitest";
import { bootGuest, guestFiles } from "../support/v86-guest.js";

const files = guestFiles();
if (typeof files === "string") console.warn(`v86 boot test skipped: ${files}`);

describe.skipIf(typeof files === "string")("v86 guest boot (no NIC)", () => {
  it("boots the Debian kernel to /init and loads the virtio modules", async () => {
    if (typeof files === "string") return;
    const run = bootGuest(files);
    try {
      // Watchdogs only: a quiet machine boots in 25-75 s, a busy one takes several times as long.
      const banner = await run.waitFor(/Linux version \d+\.\d+/, 300_000);
      console.log(`kernel banner: ${banner}`);
      expect(banner).toContain(files.meta.kernel.split("-")[0]);
      await run.waitFor(/VMDEV-INIT start/, 300_000);
      await run.waitFor(/VMDEV-MODULES loaded/, 300_000);
      // No NIC: no insmod failed, and eth0 never appears.
      expect(run.lines.filter((l) => l.includes("VMDEV insmod"))).toEqual([]);
      await run.waitFor(/VMDEV-INIT done/, 300_000);
      expect(run.lines.some((l) => /can't find device 'eth0'/.test(l))).toBe(true);
    } finally {
      await run.stop();
    }
  }, 600_000);
});
