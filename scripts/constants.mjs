// The constants the wasm shares with the host, generated from one source:
// every assembly/**/defs.ts. The compiler evaluates them (a small module
// exports each constant as a global, built with the same compiler as the
// wasm), so an expression such as `(1 << 15) | BASE_EN` or a u64 mask means
// in TypeScript exactly what it means in the wasm; this script only reads
// the names, types and doc comments from the source. The result is
// src/generated/constants.ts (one object per area: CoreDefs, ApicDefs, ...)
// and build/constants.json, which test/abi pins like the exports.
//
// A defs.ts may hold `export const NAME[: type] = <expression>;` (one line),
// `export namespace NAME { export const ... }` tables of them, exported
// functions (skipped), private declarations, and imports of other defs.ts
// only. Anything else exported is an error, so no constant is silently left
// out of the mirror.
import { readFileSync, writeFileSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { join, relative, dirname, sep } from "node:path";
import asc from "assemblyscript/asc";

function defsFiles(dir) {
  return readdirSync(dir).sort().flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return defsFiles(p);
    return name === "defs.ts" ? [p] : [];
  });
}

/** `virtio-net` → `VirtioNetDefs`, `net/sub` → `NetSubDefs`. */
function areaName(dir) {
  return dir.split(/[\\/\-_]/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join("") + "Defs";
}

const DECL = /^export\s+const\s+(\w+)\s*(?::\s*(\w+))?\s*=\s*(.+?);\s*(?:\/\/\s*(.*))?$/;
const MEMBER = /^export\s+const\s+(\w+)\s*(?::\s*(\w+))?\s*=\s*(.+?);\s*(?:\/\/\s*(.*))?$/;

/** Names, declared initialisers and docs of one defs.ts; throws on anything it cannot mirror. */
export function parseDefs(text, file) {
  const items = [];
  let depth = 0;          // brace depth outside comments
  let ns = null;          // the namespace being read (depth 1), or null
  let inFunction = false; // inside an exported or private function body
  let doc = null;         // the last /** */ block, until a declaration takes it
  let inDoc = false, docLines = [];
  const lines = text.split("\n");
  const fail = (i, why) => { throw new Error(`${file}:${i + 1}: ${why}`); };
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    let line = raw.trim();
    if (inDoc) {
      const end = line.indexOf("*/");
      docLines.push(line.slice(0, end < 0 ? undefined : end).replace(/^\*\s?/, ""));
      if (end >= 0) { inDoc = false; doc = docLines.join(" ").replace(/\s+/g, " ").trim(); }
      continue;
    }
    if (line.startsWith("/**")) {
      const end = line.indexOf("*/", 3);
      if (end >= 0) { doc = line.slice(3, end).trim(); continue; }
      inDoc = true; docLines = [line.slice(3)];
      continue;
    }
    line = line.replace(/^(@\w+\s*)+/, "");
    const code = line.replace(/\/\*.*?\*\//g, "").replace(/\/\/.*$/, "").replace(/"(?:[^"\\]|\\.)*"/g, '""').trim();
    if (code === "") continue;
    const opens = (code.match(/\{/g) ?? []).length, closes = (code.match(/\}/g) ?? []).length;
    if (inFunction || (depth > 0 && ns === null)) {
      depth += opens - closes;
      if (depth === 0) inFunction = false;
      doc = null;
      continue;
    }
    if (ns !== null) {
      if (code === "}") { items.push(ns); ns = null; depth = 0; doc = null; continue; }
      const m = MEMBER.exec(line);
      if (!m) fail(i, `only one-line 'export const NAME = value;' members are mirrored in namespace ${ns.name}`);
      ns.members.push({ name: m[1], declared: m[2] ?? null, init: m[3], doc: doc ?? m[4] ?? null });
      doc = null;
      continue;
    }
    if (/^import\b/.test(code)) {
      const from = /from\s+"([^"]+)"/.exec(line)?.[1];
      if (!from || !/(^|\/)defs$/.test(from)) fail(i, "a defs.ts imports other defs.ts only");
      doc = null;
      continue;
    }
    let m;
    if ((m = /^export\s+namespace\s+(\w+)\s*\{$/.exec(code))) {
      ns = { kind: "ns", name: m[1], doc, members: [] };
      depth = 1; doc = null;
      continue;
    }
    if ((m = DECL.exec(line))) {
      items.push({ kind: "const", name: m[1], declared: m[2] ?? null, init: m[3], doc: doc ?? m[4] ?? null });
      doc = null;
      continue;
    }
    if (/^export\s+const\b/.test(code)) fail(i, "a mirrored constant is declared on one line: export const NAME[: type] = value;");
    if (/^(export\s+)?function\b/.test(code)) {
      depth += opens - closes;
      inFunction = depth > 0;
      doc = null;
      continue;
    }
    if (/^export\b/.test(code)) fail(i, `cannot mirror '${code.slice(0, 40)}' (defs.ts exports constants, namespaces of them and functions)`);
    // A private declaration or statement.
    depth += opens - closes;
    doc = null;
  }
  if (ns !== null || inDoc) throw new Error(`${file}: unterminated namespace or comment`);
  return items;
}

function fromGlobal(type, v) {
  switch (type) {
    case "u32": case "usize": return v >>> 0;
    case "u64": return BigInt.asUintN(64, BigInt(v));
    case "i64": return BigInt.asIntN(64, BigInt(v));
    case "bool": return v !== 0;
    case "i8": case "i16": case "i32": case "u8": case "u16": case "isize": case "f32": case "f64": return v;
    default: throw new Error(`constant of type ${type} cannot cross to the host`);
  }
}

/** Decimal where the source wrote a decimal number, hex for hex literals and expressions (bit masks, shifts). */
function literal(type, value, init) {
  const hex = !/^-?[0-9][0-9_]*$/.test(init.trim());
  if (typeof value === "bigint") return (hex ? `0x${value.toString(16)}` : String(value)) + "n";
  if (typeof value === "boolean") return String(value);
  return hex && value >= 0 ? `0x${value.toString(16)}` : String(value);
}

const docComment = (doc, indent) => (doc ? `${indent}/** ${doc.replace(/\*\//g, "*\\/")} */\n` : "");

/**
 * Compile every defs.ts constant into `build/defs/`, read back the values,
 * write src/generated/constants.ts and build/constants.json. Returns the
 * number of constants.
 */
export async function generateConstants(root) {
  const asmDir = join(root, "assembly");
  const work = join(root, "build/defs");
  mkdirSync(work, { recursive: true });
  const areas = defsFiles(asmDir).map((file) => {
    const dir = relative(asmDir, dirname(file)).split(sep).join("/");
    if (dir === "") throw new Error("assembly/defs.ts: constants belong to an area's folder");
    return { file, dir, name: areaName(dir), items: parseDefs(readFileSync(file, "utf8"), relative(root, file)) };
  });
  const seen = new Set();
  for (const a of areas) { if (seen.has(a.name)) throw new Error(`two areas are both ${a.name}`); seen.add(a.name); }

  // One export per constant: v<i> = d<area>.<path>.
  const ids = new Map();
  let entry = "// Generated by scripts/build-wasm.mjs: each constant of assembly/**/defs.ts as a global the compiler evaluates.\n";
  areas.forEach((a, ai) => {
    entry += `import * as d${ai} from "${relative(work, a.file).split(sep).join("/").replace(/\.ts$/, "")}";\n`;
    for (const it of a.items) {
      const paths = it.kind === "const" ? [[it.name, it]] : it.members.map((m) => [`${it.name}.${m.name}`, m]);
      for (const [path] of paths) { ids.set(`${a.name}.${path}`, `v${ids.size}`); entry += `export const v${ids.size - 1} = d${ai}.${path};\n`; }
    }
  });
  writeFileSync(join(work, "entry.ts"), entry);
  writeFileSync(join(work, "asconfig.json"), "{}\n");
  const { error } = await asc.main([
    join(work, "entry.ts"), "--config", join(work, "asconfig.json"), "--runtime", "stub",
    "--outFile", join(work, "defs.wasm"), "--bindings", "raw",
  ], { stdout: process.stdout, stderr: process.stderr });
  if (error) throw new Error(`asc defs: ${error.message}`);
  const types = new Map([...readFileSync(join(work, "defs.d.ts"), "utf8").matchAll(/export const (v\d+): \{\s*\/\*\* @type `(\w+)` \*\//g)].map((m) => [m[1], m[2]]));
  const module = new WebAssembly.Module(readFileSync(join(work, "defs.wasm")));
  const imports = {};
  for (const imp of WebAssembly.Module.imports(module)) (imports[imp.module] ??= {})[imp.name] = imp.kind === "function" ? () => {} : undefined;
  const globals = new WebAssembly.Instance(module, imports).exports;

  const json = [];
  let ts = "// Generated by scripts/build-wasm.mjs from assembly/**/defs.ts; not in git.\n" +
    "// The constants the wasm shares with the host, as the compiler evaluated them.\n";
  for (const a of areas) {
    ts += `\n/** The constants of assembly/${a.dir}/defs.ts. */\nexport const ${a.name} = {\n`;
    const emit = (path, m, indent) => {
      const id = ids.get(`${a.name}.${path}`);
      const type = types.get(id);
      if (!type || !(globals[id] instanceof WebAssembly.Global)) throw new Error(`${a.dir}/defs.ts: ${path} did not compile to a constant`);
      const value = fromGlobal(type, globals[id].value);
      json.push({ name: `${a.name}.${path}`, type, value: String(value) });
      return docComment(m.doc, indent) + `${indent}${m.name}: ${literal(type, value, m.init)},\n`;
    };
    for (const it of a.items) {
      if (it.kind === "const") { ts += emit(it.name, it, "  "); continue; }
      ts += docComment(it.doc, "  ") + `  ${it.name}: {\n`;
      for (const m of it.members) ts += emit(`${it.name}.${m.name}`, m, "    ");
      ts += "  },\n";
    }
    ts += "} as const;\n";
  }
  json.sort((x, y) => (x.name < y.name ? -1 : 1));
  writeFileSync(join(root, "build/constants.json"), JSON.stringify(json, null, 1) + "\n");
  mkdirSync(join(root, "src/generated"), { recursive: true });
  const out = join(root, "src/generated/constants.ts");
  let old = "";
  try { old = readFileSync(out, "utf8"); } catch {}
  if (old !== ts) writeFileSync(out, ts);
  return json.length;
}
