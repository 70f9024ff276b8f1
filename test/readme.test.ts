// Every code block in README.md runs here. ```js blocks run in Node as ES
// modules that import the package by its name (the checkout's own build,
// through the package's self-reference); ```js browser blocks are bundled for
// the browser against the browser build, so every import must exist there;
// ```sh blocks run their `vmdev` commands and check that each npm script they
// name exists (`node examples/X.mjs` lines name an example test/examples.test.ts
// runs); ```text blocks are output samples and must be output the CLI
// can print. Any other info string fails: no block is skipped.
import { describe, it, expect } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { build } from "esbuild";

const root = new URL("../", import.meta.url).pathname;
const readme = readFileSync(join(root, "README.md"), "utf8");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const bin = join(root, "bin/vmdev.js");

interface Block { info: string; code: string; line: number }
const blocks: Block[] = [...readme.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({
  info: m[1].trim(), code: m[2], line: readme.slice(0, m.index).split("\n").length,
}));

function exec(cmd: string, args: string[], cwd = root): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : -1) : 0, stdout, stderr }));
  });
}

/** Where block files go: inside the package, so `import "vmdev"` resolves to this checkout (self-reference). */
const scratch = join(root, ".cache", "readme");
mkdirSync(scratch, { recursive: true });

describe("README.md code blocks", () => {
  it("has blocks, each with an info string this test runs", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    for (const b of blocks) expect(["js", "js browser", "sh", "text"], `README.md:${b.line}`).toContain(b.info);
  });

  for (const b of blocks) {
    const title = `README.md:${b.line} (${b.info}) ${b.code.split("\n")[0].slice(0, 60)}`;
    if (b.info === "js") {
      it(`${title}: runs in Node`, async () => {
        const file = join(scratch, `block-${b.line}.mjs`);
        writeFileSync(file, b.code);
        const r = await exec(process.execPath, [file]);
        expect(r.stderr, title).toBe("");
        expect(r.code, title).toBe(0);
      });
    } else if (b.info === "js browser") {
      it(`${title}: bundles for the browser against the browser build`, async () => {
        const res = await build({
          stdin: { contents: b.code, resolveDir: scratch, sourcefile: `README.md:${b.line}`, loader: "js" },
          bundle: true, write: false, format: "esm", platform: "browser", target: ["es2022"], logLevel: "silent",
          // v86 is the page's own script; vmdev must resolve to what a browser bundler gets.
          external: ["v86"], conditions: ["browser"],
        });
        expect(res.errors).toEqual([]);
        const out = res.outputFiles[0].text;
        expect(out).toMatch(/from "v86"/);
        // Every name the block imports from vmdev is an export of the browser bundle.
        const bundle = (await import(pathToFileURL(join(root, "dist", "browser", "vmdev.js")).href)) as Record<string, unknown>;
        for (const m of b.code.matchAll(/import \{([^}]+)\} from "vmdev"/g)) {
          for (const name of m[1].split(",").map((x) => x.trim()).filter(Boolean)) expect(bundle, name).toHaveProperty(name);
        }
      });
    } else if (b.info === "sh") {
      it(`${title}: its vmdev commands run, its npm scripts exist`, async () => {
        for (const raw of b.code.split("\n")) {
          const line = raw.replace(/\s+#.*$/, "").trim();
          if (!line) continue;
          for (const cmd of line.split("&&").map((c) => c.trim())) {
            const words = cmd.split(/\s+/);
            if (words[0] === "npm") {
              if (words[1] === "install") expect(words.slice(2).filter((w) => !w.startsWith("-")).every((w) => w === pkg.name), cmd).toBe(true);
              else if (words[1] === "run") expect(pkg.scripts, cmd).toHaveProperty(words[2]);
              else expect(pkg.scripts, cmd).toHaveProperty(words[1]);
            } else if (words[0] === "node" && /^examples\/[\w.-]+\.mjs$/.test(words[1] ?? "")) {
              // The examples run in test/examples.test.ts; here they must exist.
              expect(existsSync(join(root, words[1])), cmd).toBe(true);
            } else if (words[0] === "vmdev") {
              const r = await exec(process.execPath, [bin, ...words.slice(1)]);
              expect(r.stderr, cmd).toBe("");
              expect(r.code, cmd).toBe(0);
            } else {
              throw new Error(`README.md:${b.line}: '${cmd}' is neither a vmdev command nor an npm script`);
            }
          }
        }
      });
    } else if (b.info === "text") {
      it(`${title}: is output the CLI prints`, () => {
        const sources = ["src/cli/migrate.ts", "src/cli/run.ts", "src/cli/demo.ts", "src/migration/report.ts"].map((f) => readFileSync(join(root, f), "utf8")).join("\n");
        for (const line of b.code.trim().split("\n")) {
          // The fixed words before the first figure must be in a template of the CLI.
          const words = line.split(/[0-9a-f]{16}|\d/)[0];
          expect(words.length, line).toBeGreaterThan(10);
          expect(sources, line).toContain(words.replace(/ +$/, ""));
        }
      });
    }
  }

  it("the API overview names only what the package exports", async () => {
    const section = readme.slice(readme.indexOf("## API overview"), readme.indexOf("\n## ", readme.indexOf("## API overview") + 1));
    const api = (await import("../src/index.js")) as Record<string, unknown>;
    const rows = section.split("\n").filter((l) => l.startsWith("| ") && !l.includes("vmdev/testing") && !/^\| (Area|-)/.test(l));
    expect(rows.length).toBeGreaterThan(5);
    for (const row of rows) {
      for (const [, name] of row.matchAll(/`([A-Za-z_$][\w$]*)(?:[.(][^`]*)?`/g)) expect(api, `${name} (${row.split("|")[1].trim()})`).toHaveProperty(name);
    }
  });

  it("the quick start's two commands are npm scripts that build first", () => {
    expect(readme).toMatch(/^npm install && npm start /m);
    expect(readme).toMatch(/^npm install && npm test /m);
    expect(pkg.scripts.start).toMatch(/^npm run build --silent && node bin\/vmdev\.js /);
    expect(pkg.scripts.test).toMatch(/^npm run build --silent && /);
  });
});
