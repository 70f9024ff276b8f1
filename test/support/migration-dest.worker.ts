// Worker side of the in-process worker transport test: a destination VM in
// its own thread, reached over a MessagePort.
import { parentPort, workerData } from "node:worker_threads";
import { readFileSync } from "node:fs";
import type { MessagePort } from "node:worker_threads";
import { PortTransport, receiveMigration } from "../../src/migration/index.js";
import { StandInDestination } from "../../src/testing/index.js";

const { port } = workerData.data as { port: MessagePort };
const module = new WebAssembly.Module(readFileSync(new URL("../../build/vmdev.debug.wasm", import.meta.url)));
let dest: StandInDestination | undefined;
const res = await receiveMigration(new PortTransport(port, "worker"), async ({ ramBytes }) =>
  (dest = await StandInDestination.create({ module, variant: "debug", ramBytes })));
let digest: string | null = null;
if (dest) {
  const e = dest.core.exports;
  e.mig_init(0);
  e.mig_hash_range(0, dest.core.guest.pages);
  digest = BigInt.asUintN(64, e.mig_digest(0n)).toString(16);
}
parentPort!.postMessage({ ok: res.ok, resumed: res.resumed, error: res.error ?? null, digest });
