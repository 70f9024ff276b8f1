import { loadModule } from "../src/load-node.js";
import { throughputRows } from "../bench/migration.bench.ts";
const m = await loadModule("release");
for (const r of await throughputRows(m)) console.log(r.name, r.value.toFixed(1), r.unit, "base", r.baseline?.toFixed(1), "ratio", r.ratio?.toFixed(3));
