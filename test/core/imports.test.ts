// The house's import rules, checked on the source: no import circle in src/
// (type-only imports included: they are edges a reader follows too), and
// nothing outside src/testing/ imports it (production code never imports
// test code).
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const src = join(root, "src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : []);
}

/** Relative module specifiers of `import … from`, `export … from`, `import("…")` and bare `import "…"`, resolved to files. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["'](\.[^"']+)["']/g)].map((m) => m[1]);
  return specs.map((s) => resolve(dirname(file), s.replace(/\.js$/, ".ts")));
}

const files = sources(src);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const name = (f: string) => relative(root, f);

describe("imports in src/", () => {
  it("every relative import names a file that exists (the checks below see the whole graph)", () => {
    const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${name(f)} → ${name(d)}`));
    expect(missing).toEqual([]);
  });

  it("form no circle", () => {
    const state = new Map<string, 1 | 2>(); // 1 on the path, 2 done
    const circles: string[] = [];
    const visit = (f: string, path: string[]) => {
      state.set(f, 1);
      for (const d of graph.get(f) ?? []) {
        if (state.get(d) === 1) circles.push([...path.slice(path.indexOf(d)), d].map(name).join(" → "));
        else if (!state.has(d) && graph.has(d)) visit(d, [...path, d]);
      }
      state.set(f, 2);
    };
    for (const f of files) if (!state.has(f)) visit(f, [f]);
    expect(circles).toEqual([]);
  });

  it("reach src/testing/ only from inside it", () => {
    const testing = join(src, "testing") + "/";
    const bad = [...graph].flatMap(([f, deps]) => (f.startsWith(testing) ? [] : deps.filter((d) => d.startsWith(testing)).map((d) => `${name(f)} → ${name(d)}`)));
    expect(bad).toEqual([]);
  });
});
