// A destination in its own process for test/migration/tcp.test.ts: listens on
// 127.0.0.1 (free port), prints "listening 127.0.0.1:PORT", receives one VM,
// prints the result as one JSON line. The VM lands in a frozen Machine (one
// vCPU writing 256 pages/s after resume).
import { loadModule } from "../../src/load-node.js";
import { runDestinationRole } from "../../src/migration/roles.js";
import { ConfigTree } from "../../src/config/tree.js";

const module = await loadModule("release");
const config = new ConfigTree();
config.set("workload.rate", "256");
const res = await runDestinationRole({ module, variant: "release", port: 0, runAfterMs: 50, config,
  onListening: (p) => console.log(`listening 127.0.0.1:${p}`) });
console.log(JSON.stringify({ ok: res.ok, resumed: res.resumed, error: res.error ?? null, digest: res.digest ?? null, writesAfterResume: res.writesAfterResume }));
