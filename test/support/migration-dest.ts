// A destination in its own process for test/migration/tcp.test.ts: listens on
// 127.0.0.1 (free port), prints "listening 127.0.0.1:PORT", receives one VM,
// prints the result as one JSON line. The VM lands in a frozen Machine (one
// vCPU writing 256 pages/s after resume); once resumed, the destination waits
// until every vCPU has written (the proof it runs) and reports their writes.
import { loadModule } from "../../src/load-node.js";
import { runDestinationRole } from "../../src/migration/roles.js";
import { ConfigTree } from "../../src/config/tree.js";
import { until } from "./wait.js";

const module = await loadModule("release");
const config = new ConfigTree();
config.set("workload.rate", "256");
let writesAfterResume = 0;
const res = await runDestinationRole({ module, variant: "release", port: 0, runAfterMs: 0, config,
  onListening: (p) => console.log(`listening 127.0.0.1:${p}`),
  // The vCPUs were frozen from creation to resume: every write counted happened after it.
  inspect: async (d) => {
    const stats = () => d.machine.vcpuStats();
    await until(() => stats().every((s) => s.writes > 0), "every vCPU to write after resume");
    writesAfterResume = stats().reduce((a, s) => a + s.writes, 0);
  } });
console.log(JSON.stringify({ ok: res.ok, resumed: res.resumed, error: res.error ?? null, digest: res.digest ?? null, writesAfterResume }));
