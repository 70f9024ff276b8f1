// The plain-wasm ABI reference, generated: docs/abi.md (for people) and
// build/vmdev.abi.json (for programs; shipped as `vmdev/abi.json`).
//
// Sources, one per fact, none copied by hand:
// - the export list with AssemblyScript types and the constants: the pinned
//   ABI (test/abi/pinned.json) for the doc, the build's own (build/abi.json,
//   build/constants.json) for the JSON; test/abi.test.ts keeps them equal;
// - the wasm-level types of imports and exports: the built module itself
//   (build/vmdev.wasm, its type, import and export sections);
// - one line of meaning per export: its doc comment in assembly/*/exports.ts
//   (an export without one is an error here), the area's file header;
// - status codes and counter tables: assembly/**/defs.ts doc comments;
// - the I/O buffer's windows: the map in src/io-buffer.ts's header;
// - the prose (imports, handles, threading): docs/abi.in.md, whose
//   `<!-- abi:NAME -->` lines this script replaces with tables.
//
//   node scripts/abi-doc.mjs           write docs/abi.md (after `npm run build`)
//   node scripts/abi-doc.mjs --json    write build/vmdev.abi.json (the build runs this)
//   node scripts/abi-doc.mjs --check   exit 1 if docs/abi.md is stale
import { readFileSync, writeFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";
import { parseDefs } from "./constants.mjs";

const ROOT = new URL("..", import.meta.url).pathname;

// --- The wasm binary: imports and exports with their function types --------

/** Imports and exports of a wasm binary, with function signatures and memory limits. */
export function wasmInterface(bytes) {
  let p = 8;
  const u8 = () => bytes[p++];
  const leb = () => { let r = 0, s = 0, b; do { b = bytes[p++]; r += (b & 0x7f) * 2 ** s; s += 7; } while (b & 0x80); return r; };
  const name = () => { const n = leb(); const s = new TextDecoder().decode(bytes.subarray(p, p + n)); p += n; return s; };
  const VAL = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128" };
  const types = [], funcs = [], imports = [], exports = [];
  const limits = () => { const flags = u8(); const min = leb(); const max = flags & 1 ? leb() : null; return { initial: min, maximum: max, shared: (flags & 2) !== 0 }; };
  while (p < bytes.length) {
    const id = u8(), size = leb(), end = p + size;
    if (id === 1) {
      for (let n = leb(); n > 0; n--) {
        if (u8() !== 0x60) throw new Error("wasm: unexpected type form");
        const params = Array.from({ length: leb() }, () => VAL[u8()]);
        const results = Array.from({ length: leb() }, () => VAL[u8()]);
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        const module = name(), field = name(), kind = u8();
        if (kind === 0) { const t = types[leb()]; funcs.push(t); imports.push({ module, name: field, kind: "function", ...t }); }
        else if (kind === 2) imports.push({ module, name: field, kind: "memory", ...limits() });
        else if (kind === 1) { u8(); limits(); imports.push({ module, name: field, kind: "table" }); }
        else if (kind === 3) { u8(); u8(); imports.push({ module, name: field, kind: "global" }); }
      }
    } else if (id === 3) {
      for (let n = leb(); n > 0; n--) funcs.push(types[leb()]);
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) {
        const field = name(), kind = u8(), index = leb();
        exports.push(kind === 0 ? { name: field, kind: "function", ...funcs[index] } : { name: field, kind: ["function", "table", "memory", "global"][kind] });
      }
    }
    p = end;
  }
  return { imports, exports };
}

// --- Doc comments of the exports --------------------------------------------

function exportFiles(dir) {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return exportFiles(p);
    return n === "exports.ts" ? [p] : [];
  });
}

/** The leading `//` comment block of a file, as one paragraph. */
function fileHeader(text) {
  const lines = [];
  for (const l of text.split("\n")) { if (!l.startsWith("//")) break; lines.push(l.replace(/^\/\/\s?/, "")); }
  return lines.join(" ").replace(/\s+/g, " ").trim();
}

/** Every `export function` of assembly/**\/exports.ts: its area (folder), file and doc comment. */
export function exportDocs(root = ROOT) {
  const byName = new Map(), areas = [];
  for (const file of exportFiles(join(root, "assembly"))) {
    const text = readFileSync(file, "utf8");
    const area = relative(join(root, "assembly"), file).replace(/\/exports\.ts$/, "");
    areas.push({ area, file: relative(root, file), header: fileHeader(text) });
    const re = /(?:\/\*\*((?:[^*]|\*(?!\/))*)\*\/\s*\n)?export function (\w+)\s*\(/g;
    for (const m of text.matchAll(re)) {
      const doc = m[1] ? m[1].split("\n").map((l) => l.replace(/^\s*\*\s?/, "")).join(" ").replace(/\s+/g, " ").trim() : null;
      byName.set(m[2], { area, file: relative(root, file), doc, order: byName.size });
    }
  }
  return { byName, areas };
}

// --- Constants with their docs ----------------------------------------------

function defsFiles(dir) {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return defsFiles(p);
    return n === "defs.ts" ? [p] : [];
  });
}
const areaName = (dir) => dir.split(/[\\/\-_]/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join("") + "Defs";

/** `Area.NAME` / `Area.Table.NAME` → doc comment, and table docs, from every defs.ts. */
function constantDocs(root) {
  const docs = new Map();
  for (const file of defsFiles(join(root, "assembly"))) {
    const area = areaName(relative(join(root, "assembly"), file).replace(/\/defs\.ts$/, ""));
    for (const item of parseDefs(readFileSync(file, "utf8"), relative(root, file))) {
      if (item.kind === "ns") {
        docs.set(`${area}.${item.name}`, item.doc);
        for (const m of item.members) docs.set(`${area}.${item.name}.${m.name}`, m.doc);
      } else docs.set(`${area}.${item.name}`, item.doc);
    }
  }
  return docs;
}

// --- Counter layouts --------------------------------------------------------

/**
 * Each `*_counters_ptr` export, the count of u64 counters at that address and
 * the tables naming them (in order: a later table's indices continue the
 * earlier one's). A new counters export needs an entry here.
 */
const COUNTER_LAYOUTS = {
  vm_counters_ptr: { count: "CoreDefs.CORE_COUNTERS", tables: ["CoreDefs.Counter"] },
  vnet_counters_ptr: { count: "VirtioDefs.DEV_COUNTERS", tables: ["VirtioDefs.VCounter", "VirtioNetDefs.NetCounter"] },
  apic_counters_ptr: { count: "ApicDefs.APIC_STATS", tables: ["ApicDefs.ApicStat"] },
  ioapic_counters_ptr: { count: "IoapicDefs.IOAPIC_STATS", tables: ["IoapicDefs.IoapicStat"] },
  e1k_counters_ptr: { count: "E1000Defs.E1K_COUNTERS", tables: ["E1000Defs.E1kCounter"] },
  ne2k_counters_ptr: { count: "Ne2kDefs.NE2K_COUNTERS", tables: ["Ne2kDefs.Ne2kCounter"] },
  nsw_counters_ptr: { count: "NetDefs.SWITCH_PORT_COUNTERS", tables: ["NetDefs.SwitchCounter"] },
  // One export for every ring object: the layout follows the object's kind.
  ring_counters_ptr: [
    { when: "a netmap ring", count: "RingsDefs.NMR_COUNTERS", tables: ["RingsDefs.NmrCounter"] },
    { when: "an element queue", count: "RingsDefs.RQ_COUNTERS", tables: ["RingsDefs.RqCounter"] },
    { when: "a TX queue", count: "RingsDefs.TXQ_COUNTERS", tables: ["RingsDefs.TxqCounter"] },
    { when: "a backend port", count: "RingsDefs.PORT_COUNTERS", tables: ["RingsDefs.PortCounter"] },
  ],
};

// --- The I/O buffer's windows -----------------------------------------------

function ioWindows(root) {
  const text = readFileSync(join(root, "src/io-buffer.ts"), "utf8");
  const header = text.split("\n").filter((l) => l.startsWith("//")).map((l) => l.replace(/^\/\/ ?/, ""));
  const start = header.findIndex((l) => /map of who puts what where/.test(l));
  const windows = [];
  for (const l of header.slice(start + 1)) {
    const m = /^ {2}(\S[^[]*?)\s+(\[[^)]*\))\s+(.*)$/.exec(l);
    if (m) { windows.push({ name: m[1], range: m[2], use: m[3] }); continue; }
    const cont = /^ {20,}(\S.*)$/.exec(l);
    if (cont && windows.length) { windows[windows.length - 1].use += " " + cont[1]; continue; }
    if (windows.length && l.trim() === "") break;
  }
  if (windows.length === 0) throw new Error("src/io-buffer.ts: no window map found in the header");
  return windows;
}

// --- The model --------------------------------------------------------------

/**
 * The ABI as one object. `source`: "pinned" (test/abi/pinned.json, for the
 * doc) or "build" (build/abi.json + build/constants.json, for the package).
 */
export function abiModel({ root = ROOT, source = "pinned" } = {}) {
  const read = (p) => JSON.parse(readFileSync(join(root, p), "utf8"));
  let abiVersion, exportList, constants;
  if (source === "pinned") ({ abiVersion, exports: exportList, constants } = read("test/abi/pinned.json"));
  else {
    const src = readFileSync(join(root, "assembly/core/abi.ts"), "utf8");
    abiVersion = `${/ABI_MAJOR: u32 = (\d+)/.exec(src)[1]}.${/ABI_MINOR: u32 = (\d+)/.exec(src)[1]}`;
    exportList = read("build/abi.json");
    constants = read("build/constants.json");
  }
  const wasm = wasmInterface(readFileSync(join(root, "build/vmdev.wasm")));
  const wasmExports = new Map(wasm.exports.map((e) => [e.name, e]));
  const { byName, areas } = exportDocs(root);
  const cdocs = constantDocs(root);
  const problems = [];

  const exports = exportList.map((e) => {
    const src = byName.get(e.name), w = wasmExports.get(e.name);
    if (!src) problems.push(`${e.name}: not found in any assembly/**/exports.ts`);
    else if (!src.doc) problems.push(`${e.name}: no doc comment in ${src.file} (one line of meaning, /** ... */)`);
    if (!w) problems.push(`${e.name}: not exported by build/vmdev.wasm`);
    return {
      name: e.name, area: src?.area ?? null,
      params: e.params.map((p, i) => ({ name: p.name, type: p.type, wasm: w?.params?.[i] ?? null })),
      result: e.result, wasmResult: w?.results?.[0] ?? null,
      doc: src?.doc ?? null,
      order: src?.order ?? 0,
    };
  });
  const runtime = wasm.exports.filter((e) => !exportList.some((x) => x.name === e.name)).map((e) => ({ name: e.name, kind: e.kind }));

  const cmap = new Map(constants.map((c) => [c.name, c]));
  const withDoc = (c) => ({ ...c, doc: cdocs.get(c.name) ?? null });
  const table = (prefix) => constants.filter((c) => c.name.startsWith(prefix + ".") && !c.name.slice(prefix.length + 1).includes("."))
    .map(withDoc).sort((a, b) => Number(a.value) - Number(b.value));
  const status = table("CoreDefs.Status").map((c) => ({ name: c.name.split(".").pop(), value: Number(c.value), doc: c.doc }));

  const counters = [];
  for (const e of exports.filter((x) => x.name.endsWith("_counters_ptr"))) {
    const layout = COUNTER_LAYOUTS[e.name];
    if (!layout) { problems.push(`${e.name}: no counter layout in scripts/abi-doc.mjs COUNTER_LAYOUTS`); continue; }
    for (const alt of Array.isArray(layout) ? layout : [layout]) {
      const count = cmap.get(alt.count);
      if (!count) { problems.push(`${e.name}: constant ${alt.count} is not in the ABI`); continue; }
      const entries = alt.tables.flatMap((t) => {
        const rows = table(t);
        if (rows.length === 0) problems.push(`${e.name}: table ${t} has no constants`);
        return rows.map((c) => ({ index: Number(c.value), name: c.name.split(".").pop(), table: t.split(".").pop(), doc: c.doc }));
      });
      const max = Math.max(...entries.map((x) => x.index));
      if (max >= Number(count.value)) problems.push(`${e.name}: counter index ${max} is past ${alt.count} = ${count.value}`);
      counters.push({ export: e.name, ...(alt.when ? { when: alt.when } : {}), count: Number(count.value), countConstant: alt.count, entries });
    }
  }
  if (problems.length) throw new Error(`ABI reference: ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);

  return {
    abiVersion,
    imports: wasm.imports,
    exports,
    runtimeExports: runtime,
    areas: areas.filter((a) => exports.some((e) => e.area === a.area)),
    status,
    counters,
    ioWindows: ioWindows(root),
    constants: constants.map(withDoc),
  };
}

// --- docs/abi.md ------------------------------------------------------------

const cell = (s) => String(s ?? "").replace(/([|*])/g, "\\$1").replace(/\n/g, " ");
const sig = (e) => `\`${e.name}(${e.params.map((p) => `${p.name}: ${p.type}`).join(", ")}): ${e.result}\``;
const wsig = (e) => `(${e.params.map((p) => p.wasm).join(", ")}) → ${e.wasmResult ?? "()"}`;

const SECTIONS = {
  version: (m) => `ABI version **${m.abiVersion}** (\`abi_version()\` returns \`${m.abiVersion.split(".")[0]} << 16 | ${m.abiVersion.split(".")[1]}\`).`,
  imports: (m) => [
    "| module | name | kind | wasm type |", "| --- | --- | --- | --- |",
    ...m.imports.map((i) => `| \`${i.module}\` | \`${i.name}\` | ${i.kind} | ${i.kind === "function" ? `(${i.params.join(", ")}) → ${i.results[0] ?? "()"}` : i.kind === "memory" ? `initial ≥ ${i.initial} pages, maximum ${i.maximum ?? "none"}${i.shared ? ", shared" : ""}` : ""} |`),
  ].join("\n"),
  exports: (m) => m.areas.map((a) => [
    `### ${a.area} (\`${a.file}\`)`, "", a.header, "",
    "| export | wasm | meaning |", "| --- | --- | --- |",
    ...m.exports.filter((e) => e.area === a.area).sort((x, y) => x.order - y.order).map((e) => `| ${sig(e)} | ${wsig(e)} | ${cell(e.doc)} |`),
  ].join("\n")).join("\n\n"),
  runtime: (m) => m.runtimeExports.map((e) => `\`${e.name}\` (${e.kind})`).join(", "),
  status: (m) => ["| value | name | meaning |", "| --- | --- | --- |", ...m.status.map((s) => `| ${s.value} | \`${s.name}\` | ${cell(s.doc ?? (s.value === 0 ? "Success." : ""))} |`)].join("\n"),
  counters: (m) => m.counters.map((c) => [
    `### \`${c.export}\`${c.when ? ` (${c.when})` : ""}`, "", `${c.count} u64 counters (\`${c.countConstant.split(".").pop()}\`), little-endian, 8 bytes apart; an index not listed is reserved.`, "",
    "| index | name | meaning |", "| --- | --- | --- |",
    ...c.entries.map((x) => `| ${x.index} | \`${x.table}.${x.name}\` | ${cell(x.doc)} |`),
  ].join("\n")).join("\n\n"),
  "io-windows": (m) => ["| window | range | what |", "| --- | --- | --- |", ...m.ioWindows.map((w) => `| ${w.name} | \`${w.range}\` | ${cell(w.use)} |`)].join("\n"),
};

/** docs/abi.md from the template and the model. */
export function renderAbiDoc(model, root = ROOT) {
  const tpl = readFileSync(join(root, "docs/abi.in.md"), "utf8");
  const used = new Set();
  const out = tpl.replace(/^<!-- abi:([\w-]+) -->$/gm, (_, k) => {
    if (!SECTIONS[k]) throw new Error(`docs/abi.in.md: unknown section <!-- abi:${k} -->`);
    used.add(k);
    return SECTIONS[k](model);
  });
  const missing = Object.keys(SECTIONS).filter((k) => !used.has(k));
  if (missing.length) throw new Error(`docs/abi.in.md: sections not placed: ${missing.join(", ")}`);
  return "<!-- Generated by scripts/abi-doc.mjs from docs/abi.in.md and the pinned ABI: edit those, then `npm run abi:doc`. -->\n" + out;
}

/** The package's machine-readable ABI (build/vmdev.abi.json). */
export function abiJson(model) {
  const { areas, exports, ...rest } = model;
  return JSON.stringify({ format: 1, ...rest, exports: exports.map(({ order, ...e }) => e), areas: areas.map(({ area, file, header }) => ({ area, file, doc: header })) }, null, 1) + "\n";
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = process.argv[2];
  if (arg === "--json") {
    writeFileSync(join(ROOT, "build/vmdev.abi.json"), abiJson(abiModel({ source: "build" })));
  } else {
    const doc = renderAbiDoc(abiModel({ source: "pinned" }));
    const path = join(ROOT, "docs/abi.md");
    if (arg === "--check") {
      const now = existsSync(path) ? readFileSync(path, "utf8") : "";
      if (now !== doc) { console.error("docs/abi.md is stale: run `npm run abi:doc`"); process.exit(1); }
    } else {
      writeFileSync(path, doc);
      console.log(`docs/abi.md: ${doc.split("\n").length} lines`);
    }
  }
}
