// Destination process for bench/migration.bench.ts: listens on a free
// loopback port, receives one VM, prints its result as one JSON line.
import { loadModule } from "../src/load-node.js";
import { runDestinationRole } from "../src/migration/roles.js";

const module = await loadModule("release");
// argv[2] "no-pretouch": the destination does not pre-touch RAM while it waits (the bench's baseline).
const res = await runDestinationRole({ module, variant: "release", port: 0, runAfterMs: 0, pretouch: process.argv[2] !== "no-pretouch",
  onListening: (p) => console.log(`listening 127.0.0.1:${p}`) });
console.log(JSON.stringify({ ok: res.ok, resumed: res.resumed, pagesPretouched: res.pagesPretouched, error: res.error ?? null, digest: res.digest ?? null, memoryVerified: res.memoryVerified }));
