// Config figures: loading a 1 M-line config file into a ConfigTree, against
// the least any loader does with the same text in the same run: split it into
// lines and insert each key=value into a Map.
import { ConfigTree } from "../src/index.js";
import { medianMs, type BenchRow } from "./support.js";

export async function run(): Promise<BenchRow[]> {
  const lines = 1_000_000;
  // A machine's worth of device keys, the rest variables (some referring to others).
  const out: string[] = ["# generated", "memory.size=256M", "var.base=/srv/vm"];
  for (let i = 0; out.length < lines / 4; i++) out.push(`pci.${i >> 8}.${(i >> 3) & 31}.${i & 7}.device=memtest`);
  for (let i = 0; out.length < lines; i++) out.push(i % 4 ? `var.k${i}=value ${i}` : `var.k${i}=%(var.base)/disk${i}`);
  const text = out.join("\n") + "\n";

  let keys = 0;
  const loadMs = medianMs(() => { const c = new ConfigTree(); c.load(text); keys = c.keys().length; }, 5, 1);
  const baseMs = medianMs(() => {
    const m = new Map<string, string>();
    for (const line of text.split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1));
    }
    if (m.size !== keys) throw new Error(`baseline read ${m.size} keys, the tree ${keys}`);
  }, 5, 1);
  return [{
    name: "config load, 1 M lines (ConfigTree.load)", value: loadMs, unit: "ms", baseline: baseMs, ratio: baseMs / loadMs,
    note: "baseline: split the same text into lines and one Map insert per line, same run; the tree also checks keys and values and indexes nodes (goal: seconds, linear in lines)",
  }];
}
