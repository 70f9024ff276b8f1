// `--traffic` on run and migrate: the config a guest-traffic scenario needs
// (a virtio-net, and the vCPU workload kept off the driver model's window).
import { ConfigError, type ConfigTree } from "../config/tree.js";
import { createDefaultRegistry, validateConfig } from "../machine/machine.js";
import { parseSize } from "../config/schema.js";
import { parsePciKey } from "../config/pci-node.js";
import { usage as fail } from "./common.js";

/** The guest-traffic driver model keeps its rings and buffers in the last 2 MiB of guest RAM (startNetTraffic's default window). */
const DRIVER_WINDOW = 2 << 20;

/**
 * Make `tree` ready for guest traffic: a virtio-net in the first free slot of
 * PCI bus 0 from slot 3 (unless the config already has one), and the vCPU
 * workload kept below the driver's window (`workload.pages`, unless set).
 */
export function trafficConfig(tree: ConfigTree): void {
  const hasNic = tree.keys().some((k) => parsePciKey(k)?.leaf === "device" && tree.get(k) === "virtio-net");
  if (!hasNic) {
    let slot = 3;
    while (slot < 32 && tree.children(`pci.0.${slot}`).length) slot++;
    if (slot >= 32) fail("--traffic: no free PCI slot on bus 0 for the virtio-net");
    tree.set(`pci.0.${slot}.0.device`, "virtio-net");
    tree.set(`pci.0.${slot}.0.mac`, `52:54:00:00:00:${slot.toString(16).padStart(2, "0")}`);
  }
  const ram = parseSize(tree.get("memory.size", "64M")!);
  if (ram < 2 * DRIVER_WINDOW) fail(`--traffic: guest RAM ${ram >> 10} KiB is too small for the driver model (want at least 4 MiB)`);
  const first = Number(tree.get("workload.first_page", "0"));
  const pages = (ram - DRIVER_WINDOW) / 4096 - first;
  if (pages < 1) fail(`--traffic: workload.first_page ${first} is inside the driver's window (the last 2 MiB of guest RAM)`);
  if (!tree.has("workload.pages")) tree.set("workload.pages", String(pages));
  try {
    validateConfig(tree, createDefaultRegistry());
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message);
    throw e;
  }
}

