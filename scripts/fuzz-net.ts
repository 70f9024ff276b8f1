// `npm run fuzz`: longer structure-aware fuzzing of virtio-net than `npm test`
// runs. Usage: npm run fuzz -- [--minutes N] [--seed S] [--cases-per-seed N]
// Runs seed after seed (both transports) until the time is up; prints the
// first failure with its seed and ops, exit code 1.
import { Command } from "commander";
import { runNetFuzz } from "../test/devices/virtio-net/fuzz.js";

const cli = new Command()
  .option("--minutes <n>", "how long to run", "10")
  .option("--seed <n>", "first seed (default: random)")
  .option("--cases-per-seed <n>", "cases per seed and transport", "200000")
  .parse();
const o = cli.opts<{ minutes: string; seed?: string; casesPerSeed: string }>();
const until = Date.now() + Number(o.minutes) * 60_000;
let seed = o.seed !== undefined ? Number(o.seed) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
let total = 0;
const t0 = Date.now();
while (Date.now() < until) {
  for (const transport of ["mmio", "pci"] as const) {
    const rep = await runNetFuzz({ seed, cases: Number(o.casesPerSeed), transport });
    total += rep.cases;
    console.log(`seed ${seed} ${transport}: ${rep.cases} cases, ${rep.needsReset} needs-reset, ${rep.probesOk} probes ok, max case ${rep.maxCaseMs.toFixed(2)} ms — ${total} total, ${Math.round(total / ((Date.now() - t0) / 1000))}/s`);
    if (rep.failure) {
      console.log(`FAIL seed ${seed} (${transport}) case ${rep.failure.caseIndex}: ${rep.failure.message}`);
      console.log(`ops: ${JSON.stringify(rep.failure.ops)}`);
      process.exit(1);
    }
  }
  seed = (seed + 1) >>> 0;
}
console.log(`no failures in ${total} cases`);
