// The configuration tree: bhyve-style keys, last write wins, files, %(var)
// expansion, legacy shorthands, validation errors naming the key, dumps.
import { describe, it, expect } from "vitest";
import { ConfigTree, ConfigError, MAX_EXPANSION_DEPTH, MAX_VALUE_LENGTH, MAX_EXPANSION_TOTAL } from "../../src/config/tree.js";
import { applyDeviceArg, applyCpusArg, applyMemoryArg, pciNode } from "../../src/config/legacy.js";
import { parseSize } from "../../src/config/schema.js";
import { validateConfig, createDefaultRegistry, effectiveConfig } from "../../src/machine/machine.js";
import { testSeed } from "../support/core.js";

const errorOf = (fn: () => unknown): ConfigError => {
  try { fn(); } catch (e) { if (e instanceof ConfigError) return e; throw e; }
  throw new Error("expected a ConfigError");
};

describe("config tree", () => {
  it("stores strings under dotted keys; the last write wins", () => {
    const c = new ConfigTree();
    c.assign("memory.size=64M");
    c.assign("cpus=2");
    c.assign("memory.size=128M");
    expect(c.get("memory.size")).toBe("128M");
    expect(c.get("cpus")).toBe("2");
    expect(c.get("nope")).toBeUndefined();
    expect(c.get("nope", "dflt")).toBe("dflt");
    c.assign("var.x=a=b"); // only the first '=' splits
    expect(c.get("var.x")).toBe("a=b");
  });

  it("a key is a leaf or a node, never both", () => {
    const c = new ConfigTree();
    c.set("pci.0.3.0.device", "memtest");
    expect(errorOf(() => c.set("pci.0.3.0", "x")).key).toBe("pci.0.3.0");
    expect(errorOf(() => c.set("pci.0.3.0.device.sub", "x")).key).toBe("pci.0.3.0.device.sub");
  });

  it("refuses malformed keys, naming them", () => {
    const c = new ConfigTree();
    for (const k of ["", "a..b", ".a", "a.", "a b", "a.$"]) expect(() => c.set(k, "1")).toThrow(ConfigError);
    expect(errorOf(() => c.assign("novalue")).message).toContain("expected key=value");
  });

  it("reads config files: key=value lines, # comments, blank lines, trimming; errors give key and line", () => {
    const c = new ConfigTree();
    c.load("# a machine\n\nname = web1\n  memory.size=32M  \n   # indented comment\ncpus=3\r\n", "vm.conf");
    expect(c.dump({ raw: true })).toBe("cpus=3\nmemory.size=32M\nname=web1\n");
    const e1 = errorOf(() => c.load("cpus=1\njunk line\n", "bad.conf"));
    expect(e1.message).toContain("bad.conf:2");
    const e2 = errorOf(() => c.load("ok=1\nbad key=2\n", "bad.conf"));
    expect(e2.key).toBe("bad key");
    expect(e2.message).toContain("bad.conf:2");
  });

  it("expands %(var) recursively, %% escapes, and refuses cycles and chains beyond the depth limit", () => {
    const c = new ConfigTree();
    c.set("name", "web1");
    c.set("var.pool", "/dev/zvol/%(name)");
    c.set("var.disk", "%(var.pool)/disk0 100%%");
    expect(c.get("var.disk")).toBe("/dev/zvol/web1/disk0 100%");
    expect(c.raw("var.disk")).toBe("%(var.pool)/disk0 100%%");
    c.set("var.a", "%(var.b)");
    c.set("var.b", "%(var.a)");
    const e = errorOf(() => c.get("var.a"));
    expect(e.key).toBe("var.a");
    expect(e.message).toContain("reference cycle var.a → var.b → var.a");
    // A chain exactly at the limit expands; one longer does not.
    const chain = new ConfigTree();
    chain.set("var.k0", "end");
    for (let i = 1; i <= MAX_EXPANSION_DEPTH + 1; i++) chain.set(`var.k${i}`, `%(var.k${i - 1})`);
    expect(chain.get(`var.k${MAX_EXPANSION_DEPTH}`)).toBe("end");
    expect(() => chain.get(`var.k${MAX_EXPANSION_DEPTH + 1}`)).toThrow(`deeper than ${MAX_EXPANSION_DEPTH}`);
    expect(errorOf(() => { c.set("var.c", "%(missing)"); c.get("var.c"); }).message).toContain("%(missing)");
    c.set("var.d", "50% of %%(x)");
    expect(c.get("var.d")).toBe("50% of %(x)");
    expect(errorOf(() => { c.set("var.e", "%(open"); c.get("var.e"); }).message).toContain("unterminated");
  });

  it("maps legacy shorthands onto keys", () => {
    const c = new ConfigTree();
    const positional = (dev: string) => (dev === "virtio-net" ? ["backend"] : []);
    expect(applyDeviceArg(c, "3,virtio-net,tap0,mac=02:00:00:00:00:01", positional)).toBe("pci.0.3.0");
    applyDeviceArg(c, "0:4:1,memtest,size=64K,verbose", positional);
    applyDeviceArg(c, "1:5:2,memtest", positional);
    applyMemoryArg(c, "512M");
    applyCpusArg(c, "cpus=4");
    expect(c.dump()).toBe([
      "cpus=4", "memory.size=512M",
      "pci.0.3.0.backend=tap0", "pci.0.3.0.device=virtio-net", "pci.0.3.0.mac=02:00:00:00:00:01",
      "pci.0.4.1.device=memtest", "pci.0.4.1.size=64K", "pci.0.4.1.verbose=true",
      "pci.1.5.2.device=memtest",
    ].join("\n") + "\n");
    expect(() => pciNode("32")).toThrow(/slot 32/);
    expect(() => pciNode("1:2:8")).toThrow(/function 8/);
    expect(() => pciNode("a")).toThrow(/bad PCI slot/);
    expect(() => applyCpusArg(c, "sockets=2")).toThrow(/sockets/);
    expect(() => applyDeviceArg(c, "3")).toThrow(/slot,emulation/);
  });

  it("parses sizes", () => {
    expect(parseSize("64M")).toBe(64 << 20);
    expect(parseSize("4096")).toBe(4096);
    expect(parseSize("1g")).toBe(2 ** 30);
    expect(parseSize("2KB")).toBe(2048);
    expect(parseSize("12Q")).toBeNaN();
  });
});

describe("config validation", () => {
  const registry = createDefaultRegistry();
  const check = (lines: string) => { const c = new ConfigTree(); c.load(lines); validateConfig(c, registry); return c; };

  it("accepts a good machine", () => {
    check("name=vm1\nmemory.size=16M\ncpus=2\nworkload.pattern=hot\nworkload.hotset=5%\nvcpu.1.workload.rate=1000\npci.0.3.0.device=memtest\npci.0.3.0.size=8K\n");
  });

  it("names the key of every unknown key and bad value", () => {
    const cases: Array<[string, string, RegExp]> = [
      ["memroy.size=1M", "memroy.size", /unknown key/],
      ["memory.size=100K", "memory.size", /multiple of 65536/],
      ["memory.size=lots", "memory.size", /want a size/],
      ["memory.size=8G", "memory.size", /outside/],
      ["cpus=0", "cpus", /1 to 1024/],
      ["cpus=1025", "cpus", /1 to 1024/],
      ["vcpu.threads=0", "vcpu.threads", /1 to 1024/],
      ["vcpu.threads=some", "vcpu.threads", /whole number/],
      ["cpus=2\nvcpu.2.workload.rate=5", "vcpu.2.workload.rate", /no vCPU 2/],
      ["workload.pattern=zigzag", "workload.pattern", /uniform, hot, sequential/],
      ["workload.write_size=12", "workload.write_size", /multiple of 8/],
      ["workload.throttle=0", "workload.throttle", /0.01 to 1/],
      ["workload.hotset=0%", "workload.hotset", /whole number/],
      ["pci.0.3.0.size=8K", "pci.0.3.0.device", /needs a device/],
      ["pci.0.3.0.device=e1001", "pci.0.3.0.device", /unknown device 'e1001'.*memtest/],
      ["pci.0.3.0.device=memtest\npci.0.3.0.colour=red", "pci.0.3.0.colour", /unknown key for device memtest/],
      ["pci.0.3.0.device=memtest\npci.0.3.0.size=3", "pci.0.3.0.size", /outside/],
      ["pci.0.40.0.device=memtest", "pci.0.40.0.device", /out of range/],
      ["var.a=%(var.a)", "var.a", /reference cycle var.a → var.a/],
      ["var.a=%(var.b)\nvar.b=%(var.none)", "var.b", /refers to %\(var.none\), which is not set \(reading var.a\)/],
      ["name=%(var.none)", "name", /not set/],
    ];
    for (const [text, key, msg] of cases) {
      let e: ConfigError;
      try { e = errorOf(() => check(text)); } catch { throw new Error(`no error for: ${text}`); }
      expect(e.key, text).toBe(key);
      expect(e.message, text).toMatch(msg);
      expect(e.message.startsWith(key + ": "), text).toBe(true);
    }
  });

  it("dumps the effective config: defaults filled in, user values expanded and winning", () => {
    const c = check("var.mem=16M\nmemory.size=%(var.mem)\ncpus=2\n");
    const dump = effectiveConfig(c).dump();
    expect(dump).toContain("memory.size=16M\n");
    expect(dump).toContain("cpus=2\n");
    expect(dump).toContain("name=vm\n");
    expect(dump).toContain("workload.pattern=uniform\n");
    expect(dump).toContain("lock.timeout_ms=5000\n");
    // The dump reads back to the same effective config.
    const again = new ConfigTree();
    again.load(dump);
    expect(effectiveConfig(again).dump()).toBe(dump);
  });
});

describe("config fuzz", () => {
  it("regression_newline_in_value: a value with a line break is refused (it would not survive a dump)", () => {
    const c = new ConfigTree();
    // The fuzzer's input: -o "a=\n" now means an empty value (blanks trimmed, as in a file) and round-trips.
    c.assign("a=\n");
    expect(c.dump({ raw: true })).toBe("a=\n");
    c.unset("a");
    const e = errorOf(() => c.assign("a=x\ny"));
    expect(e.key).toBe("a");
    expect(e.message).toContain("line breaks");
    expect(() => c.set("var.x", "one\rtwo")).toThrow(ConfigError);
    expect(c.keys()).toEqual([]);
    c.assign("  var.y =  spaced  ");
    expect(c.raw("var.y")).toBe("spaced");
  });

  it("random text never throws anything but a ConfigError, and dump → load is identity", async () => {
    const fc = await import("fast-check");
    const seed = testSeed();
    const pieces = ["a", "b", "0", "3", ".", "=", "%", "(", ")", "%(", "%%", "#", " ", "\n", "-", "_", "pci.0.3.0.", "var.", "%(var.a)", "é", "\r\n"];
    const text = fc.array(fc.constantFrom(...pieces), { maxLength: 60 }).map((xs) => xs.join(""));
    fc.assert(fc.property(text, text, (fileText, opt) => {
      const c = new ConfigTree();
      for (const fn of [() => c.load(fileText), () => c.assign(opt), () => c.dump(), () => validateConfig(c, createDefaultRegistry())]) {
        try { fn(); } catch (e) { if (!(e instanceof ConfigError)) throw e; }
      }
      // Whatever was accepted dumps raw and reads back to the same tree.
      const again = new ConfigTree();
      again.load(c.dump({ raw: true }));
      expect(again.dump({ raw: true })).toBe(c.dump({ raw: true }));
    }), { seed, numRuns: 400 });
  });
});

describe("config tree index", () => {
  it("a removed leaf frees its name: a node left empty can become a leaf, and the other way round", () => {
    const c = new ConfigTree();
    c.set("a.b.c", "1");
    c.set("a.b.d", "2");
    c.unset("a.b.c");
    expect(() => c.set("a.b", "x")).toThrow(/is a node \(it has a\.b\.d\)/);
    c.unset("a.b.d");
    c.set("a.b", "x");
    expect(c.children("a")).toEqual(["b"]);
    expect(c.children("a.b")).toEqual([]);
    expect(() => c.set("a.b.e", "y")).toThrow(/a\.b holds a value/);
    c.unset("a.b");
    expect(c.children("")).toEqual([]);
    c.set("a.b.e", "y");
    expect(c.subtree("a")).toEqual({ "b.e": "y" });
  });

  it("agrees with a tree that scans every key, over random writes, removals and walks", async () => {
    const fc = await import("fast-check");
    // The reference: the definition, one scan of all keys per question.
    class Scan {
      readonly m = new Map<string, string>();
      set(k: string, v: string): boolean {
        for (const o of this.m.keys()) if (o.startsWith(k + ".") || k.startsWith(o + ".")) return false;
        this.m.delete(k); this.m.set(k, v); return true;
      }
      children(n: string) { const p = n ? n + "." : ""; return [...new Set([...this.m.keys()].filter((k) => k.startsWith(p)).map((k) => k.slice(p.length).split(".")[0]))]; }
      subtree(n: string) { return Object.fromEntries([...this.m].filter(([k]) => k.startsWith(n + ".")).map(([k, v]) => [k.slice(n.length + 1), v])); }
    }
    const seg = fc.constantFrom("a", "b", "0", "1", "10");
    const key = fc.array(seg, { minLength: 1, maxLength: 4 }).map((s) => s.join("."));
    const op = fc.oneof(
      fc.record({ kind: fc.constant("set" as const), key, value: fc.constantFrom("x", "y", "") }),
      fc.record({ kind: fc.constant("unset" as const), key }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      const t = new ConfigTree(), ref = new Scan();
      for (const o of ops) {
        if (o.kind === "set") {
          let ok = true;
          try { t.set(o.key, o.value); } catch (e) { if (!(e instanceof ConfigError)) throw e; ok = false; }
          expect(ok).toBe(ref.set(o.key, o.value));
        } else expect(t.unset(o.key)).toBe(ref.m.delete(o.key));
      }
      expect(t.keys()).toEqual([...ref.m.keys()]);
      const nodes = new Set<string>([""]);
      for (const k of ref.m.keys()) for (let d = k.indexOf("."); d >= 0; d = k.indexOf(".", d + 1)) nodes.add(k.slice(0, d));
      for (const n of nodes) {
        expect(new Set(t.children(n))).toEqual(new Set(ref.children(n)));
        if (n) expect(Object.entries(t.subtree(n))).toEqual(Object.entries(ref.subtree(n)));
      }
    }), { seed: testSeed(), numRuns: 300 });
  });
});

describe("config cost and size limits", () => {
  // Every key the tree examines (a stored key, an index entry, a reference it
  // resolves) counts as a visit: the cost measure these tests bound.
  const visits = (c: ConfigTree) => c.keyVisits;

  it("regression_expansion_size_unbounded: a 663-byte config that expands to 536 M characters is refused, naming the key", () => {
    // Each level repeats the one below four times: 2 × 4^14 characters at level 14.
    let text = "var.l0=xx\n";
    for (let i = 1; i <= 14; i++) text += `var.l${i}=${`%(var.l${i - 1})`.repeat(4)}\n`;
    text += "name=%(var.l14)\n";
    expect(text.length).toBe(663);
    const c = new ConfigTree();
    c.load(text);
    // The first level whose expansion is longer than the limit is the key at fault.
    const first = [...Array(15).keys()].find((i) => 2 * 4 ** i > MAX_VALUE_LENGTH)!;
    const e = errorOf(() => c.get("name"));
    expect(e.key).toBe(`var.l${first}`);
    expect(e.message).toContain(`longer than ${MAX_VALUE_LENGTH} characters`);
    expect(e.message).toContain("reading name");
    // Validation reads keys in order and stops at the same key, having built no more than the limit per level.
    const v = new ConfigTree();
    v.load(text);
    expect(errorOf(() => validateConfig(v, createDefaultRegistry())).key).toBe(`var.l${first}`);
    expect(visits(v)).toBeLessThan(200);
    // At the limit a value still expands.
    const ok = new ConfigTree();
    ok.set("var.a", "x".repeat(MAX_VALUE_LENGTH / 2));
    ok.set("var.b", "%(var.a)%(var.a)");
    expect(ok.get("var.b")!.length).toBe(MAX_VALUE_LENGTH);
    ok.set("var.c", "%(var.b)!");
    expect(errorOf(() => ok.get("var.c")).key).toBe("var.c");
    expect(errorOf(() => ok.set("var.d", "y".repeat(MAX_VALUE_LENGTH + 1))).message).toContain(`longer than ${MAX_VALUE_LENGTH}`);
  });

  it("regression_expansion_diamond: references that fan out and meet again are expanded once per key", () => {
    // level i refers to level i-1 eight times; the value stays empty, so only the
    // number of resolutions can grow: 8^levels without memoizing, 8 × levels with it.
    const diamond = (levels: number) => {
      const c = new ConfigTree();
      c.set("var.e0", "");
      for (let i = 1; i <= levels; i++) c.set(`var.e${i}`, `%(var.e${i - 1})`.repeat(8));
      const before = visits(c);
      expect(c.get(`var.e${levels}`)).toBe("");
      return visits(c) - before;
    };
    expect(diamond(6)).toBeLessThanOrEqual(8 * 6 + 6);
    expect(diamond(MAX_EXPANSION_DEPTH)).toBeLessThanOrEqual(8 * MAX_EXPANSION_DEPTH + MAX_EXPANSION_DEPTH);
  });

  it("the references of the whole tree may add at most MAX_EXPANSION_TOTAL characters, naming the key that crosses it", () => {
    const c = new ConfigTree();
    c.set("var.big", "z".repeat(MAX_VALUE_LENGTH));
    const n = Math.floor(MAX_EXPANSION_TOTAL / MAX_VALUE_LENGTH);
    for (let i = 0; i < n + 1; i++) c.set(`var.r${i}`, "%(var.big)");
    for (let i = 0; i < n; i++) expect(c.get(`var.r${i}`)!.length).toBe(MAX_VALUE_LENGTH);
    const e = errorOf(() => c.get(`var.r${n}`));
    expect(e.key).toBe(`var.r${n}`);
    expect(e.message).toContain(`${MAX_EXPANSION_TOTAL}`);
    // A write starts the count again (the old expansions are gone).
    c.unset("var.r0");
    expect(c.get(`var.r${n}`)!.length).toBe(MAX_VALUE_LENGTH);
  });

  it("depth is a property of the key, not of the order it is read in", () => {
    const chain = new ConfigTree();
    chain.set("var.k0", "end");
    for (let i = 1; i <= MAX_EXPANSION_DEPTH + 1; i++) chain.set(`var.k${i}`, `%(var.k${i - 1})`);
    // Reading the middle first memoizes it; the long chain is still too deep.
    expect(chain.get("var.k8")).toBe("end");
    expect(errorOf(() => chain.get(`var.k${MAX_EXPANSION_DEPTH + 1}`)).key).toBe(`var.k${MAX_EXPANSION_DEPTH + 1}`);
    chain.set("var.k0", "changed");
    expect(chain.get(`var.k${MAX_EXPANSION_DEPTH}`)).toBe("changed");
  });

  it("regression_config_load_quadratic: load, validation, node walks and dumps visit each key a bounded number of times", () => {
    const text = (lines: number) => {
      const out: string[] = [];
      // A quarter of the lines are devices (two keys each), the rest variables.
      for (let i = 0; out.length < lines / 4; i++) {
        const node = `pci.${i >> 8}.${(i >> 3) & 31}.${i & 7}`;
        out.push(`${node}.device=memtest`, `${node}.size=4K`);
      }
      out.push("var.base=/srv");
      for (let i = 0; out.length < lines; i++) out.push(`var.k${i}=%(var.base)/value ${i}`);
      return out.join("\n") + "\n";
    };
    const work = (lines: number) => {
      const c = new ConfigTree();
      c.load(text(lines));
      const loaded = visits(c);
      validateConfig(c, createDefaultRegistry());
      for (const bus of c.children("pci")) for (const slot of c.children(`pci.${bus}`)) for (const fn of c.children(`pci.${bus}.${slot}`)) c.subtree(`pci.${bus}.${slot}.${fn}`);
      c.dump();
      return { loaded, total: visits(c) };
    };
    const small = work(2000), big = work(8000);
    // Linear: four times the lines, at most four times the work (plus a little for longer keys).
    expect(big.loaded / small.loaded).toBeLessThan(4.2);
    expect(big.total / small.total).toBeLessThan(4.2);
    // And a bounded number of visits per line: a key has at most a handful of segments here.
    expect(big.total / 8000).toBeLessThan(40);
  });
});
