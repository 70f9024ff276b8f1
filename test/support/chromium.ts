// Debian's Chromium for the browser tests (playwright-core drives it). CI sets
// VMDEV_REQUIRE_BROWSER, so a missing browser fails the run instead of
// skipping it; elsewhere the suite says so and skips.
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Whether Chromium is there; throws under VMDEV_REQUIRE_BROWSER when it is not. `what` names the tests skipped. */
export function chromiumAvailable(what: string): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.VMDEV_REQUIRE_BROWSER) throw new Error(`no Chromium at ${CHROMIUM}, and VMDEV_REQUIRE_BROWSER is set`);
  console.warn(`${what} skipped: no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  return false;
}

/** Headless Chromium as every browser test runs it; `extraArgs` add to the common flags. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}
