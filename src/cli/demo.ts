// `vmdev demo`: a short tour of the core. Guest RAM in wasm memory, writes
// through the port marked in the dirty bitmap, a harvest, and the layout
// moved to a second VM through a state envelope.
import { Command } from "./deps.js";
import { createVmCore } from "../index.js";
import { readEnvelopeHeader } from "../state.js";
import { statusName } from "../status.js";
import { formatBytes, sizeOption } from "./common.js";

export function demoCommand(): Command {
  return new Command("demo")
    .description("show the core at work: guest RAM, dirty tracking, harvest, state envelope")
    .option("--ram <size>", "guest RAM: 64M, 1G, 1GiB or bytes (at least 16M: the tour writes at 8 MiB)", "256M")
    .addHelpText("after", "\nExample:\n  vmdev demo --ram 64M")
    .action(async (opts: { ram: string }) => {
      const ramBytes = sizeOption(opts.ram, "--ram", 16 << 20);
      const t0 = performance.now();
      const vm = await createVmCore({ ramBytes, holes: ramBytes >= 64 << 20 ? [[48 << 20, 1 << 20]] : [] });
      const ms = (performance.now() - t0).toFixed(1);
      console.log(`guest RAM: ${formatBytes(ramBytes)} (${vm.guest.pages} pages) in wasm linear memory, created in ${ms} ms`);
      console.log(`wasm ABI ${vm.abiVersion >>> 16}.${vm.abiVersion & 0xffff}, build ${vm.buildId.toString(16).padStart(8, "0")}`);

      vm.dirty.enable();
      const pattern = new Uint8Array(3 * 4096).fill(0xa5);
      vm.guest.writeBytes(1 << 20, pattern);
      vm.guest.writeU64(0x1ff8, 0x0123456789abcdefn);
      vm.guest.fill(8 << 20, 0xff, 64 << 10);
      console.log(`wrote 3 pages at 1 MiB, a u64 at 0x1ff8, 64 KiB fill at 8 MiB`);
      console.log(`dirty pages: ${vm.dirty.count()}`);
      const ranges = vm.dirty.harvest();
      console.log(`harvest (get-and-clear): ${ranges.map((r) => `${r.page}+${r.count}`).join(", ")}; now ${vm.dirty.count()} dirty`);

      const oob = vm.guest.check(vm.guest.size, 1);
      const hole = vm.guest.check(48 << 20, 4);
      console.log(`one byte past RAM: ${statusName(oob)}; a read in the MMIO hole at 48 MiB: ${statusName(hole)}`);

      const blob = vm.saveLayout();
      const h = readEnvelopeHeader(blob);
      const peer = await createVmCore({ ramBytes });
      const status = peer.restoreLayout(blob);
      console.log(`layout saved as a ${blob.length}-byte ${h.magic} envelope (kind ${h.kind}, payload v${h.payloadVersion}); restored on a second VM: ${statusName(status)}`);
      const damaged = blob.slice();
      damaged[damaged.length - 1] ^= 1;
      console.log(`the same blob with one bit flipped: ${statusName(peer.restoreLayout(damaged))} (nothing changed)`);
      console.log(`counters: ${Object.entries(vm.counters()).map(([k, v]) => `${k}=${v}`).join(" ")}`);
    });
}
