// `npm run bench`: runs every bench/*.bench.ts, prints a table and writes
// bench/results.json (an array of { name, value, unit, baseline, ratio }).
// `npm run bench -- NAME…` runs the benches named NAME (bench/NAME.bench.ts);
// a NAME that names no file exactly selects every file whose name contains it.
import { readdirSync, writeFileSync } from "node:fs";
import type { BenchRow } from "./support.js";

const dir = new URL("./", import.meta.url);
const only = process.argv.slice(2);
const all = readdirSync(dir).filter((f) => f.endsWith(".bench.ts"));
const picks = (o: string) => (all.includes(`${o}.bench.ts`) ? (f: string) => f === `${o}.bench.ts` : (f: string) => f.includes(o));
const files = all.filter((f) => only.length === 0 || only.some((o) => picks(o)(f))).sort();
const rows: BenchRow[] = [];
for (const f of files) {
  const mod = (await import(new URL(f, dir).href)) as { run(): Promise<BenchRow[]> };
  const t = performance.now();
  const got = await mod.run();
  rows.push(...got);
  console.error(`${f}: ${got.length} rows in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}
const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));
const table = rows.map((r) => ({ name: r.name, value: `${fmt(r.value)} ${r.unit}`, baseline: `${fmt(r.baseline)} ${r.unit}`, ratio: `${r.ratio.toFixed(2)}×` }));
console.table(table);
for (const r of rows) if (r.note) console.log(`- ${r.name}: ${r.note}`);
writeFileSync(new URL("./results.json", dir), JSON.stringify(rows.map(({ name, value, unit, baseline, ratio }) => ({ name, value, unit, baseline, ratio })), null, 2) + "\n");
console.log(`wrote bench/results.json (${rows.length} rows)`);
