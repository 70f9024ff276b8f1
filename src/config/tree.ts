// The configuration tree, in the style of bhyve's config(5): a hierarchy of
// dotted keys (`memory.size`, `pci.0.3.0.device`) whose leaves hold strings.
// Values are set from `-o key=value`, a config file or legacy shorthands, in
// order; the last write wins. A value may refer to other keys as `%(key)`,
// expanded when read (`%%` is a literal `%`, as is a `%` not followed by `(`), with a depth limit so a cycle is
// an error naming the key instead of a hang.

/** An error about one configuration key; `key` names it (empty for a whole-line syntax error). */
export class ConfigError extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(key ? `${key}: ${message}` : message);
    this.name = "ConfigError";
    this.key = key;
  }
}

/** Expansion depth limit: a chain of `%(…)` references longer than this is refused. */
export const MAX_EXPANSION_DEPTH = 16;

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

/** Throw unless `key` is a dotted path of segments like `pci.0.3.0.mac`. */
export function checkKey(key: string): void {
  if (key.length === 0 || key.length > 256) throw new ConfigError(key, "a key is 1 to 256 characters");
  for (const seg of key.split(".")) {
    if (!SEGMENT.test(seg)) throw new ConfigError(key, `bad key segment '${seg}' (letters, digits, '_' and '-', dot-separated)`);
  }
}

/** A bhyve-style configuration tree. Leaves only hold values; a key is never both a leaf and a node. */
export class ConfigTree {
  private readonly values = new Map<string, string>();

  /** Set `key` to `value` (last write wins). */
  set(key: string, value: string): void {
    checkKey(key);
    // A value is one line of a config file: control characters would not survive a dump.
    if (/[\x00-\x1f\x7f]/.test(value)) throw new ConfigError(key, "a value cannot contain line breaks or control characters");
    // bhyve: internal nodes have no value, so a key cannot be both.
    const prefix = key + ".";
    for (const k of this.values.keys()) {
      if (k.startsWith(prefix)) throw new ConfigError(key, `is a node (it has ${k}), it cannot hold a value`);
      if (key.startsWith(k + ".")) throw new ConfigError(key, `${k} holds a value, so it cannot have children`);
    }
    this.values.delete(key); // re-setting moves the key to the end, so dumps follow the order of the last writes
    this.values.set(key, value);
  }

  /** Remove `key`; true if it was set. */
  unset(key: string): boolean { return this.values.delete(key); }

  has(key: string): boolean { return this.values.has(key); }

  /** The raw (unexpanded) value, or undefined. */
  raw(key: string): string | undefined { return this.values.get(key); }

  /** The expanded value, or `fallback` when unset. */
  get(key: string, fallback?: string): string | undefined {
    const v = this.values.get(key);
    return v === undefined ? fallback : this.expand(v, key, 0);
  }

  /** Every key set, in order of last write. */
  keys(): string[] { return [...this.values.keys()]; }

  /** Keys directly below `node` (e.g. children("pci.0") → ["3", "4"]), sorted numerically when they are numbers. */
  children(node: string): string[] {
    const prefix = node ? node + "." : "";
    const out = new Set<string>();
    for (const k of this.values.keys()) if (k.startsWith(prefix)) out.add(k.slice(prefix.length).split(".")[0]);
    return [...out].sort((a, b) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
  }

  /** The leaves below `node`, relative to it (`{ device: "virtio-net", mac: "…" }`), expanded. */
  subtree(node: string): Record<string, string> {
    const prefix = node + ".";
    const out: Record<string, string> = {};
    for (const k of this.values.keys()) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = this.get(k)!;
    return out;
  }

  /** Replace `%(key)` references in `value`; `%%` is a literal `%`. `where` names the key being expanded (for errors). */
  expand(value: string, where: string, depth = 0): string {
    if (depth > MAX_EXPANSION_DEPTH) throw new ConfigError(where, `expansion deeper than ${MAX_EXPANSION_DEPTH} (a reference cycle?)`);
    if (!value.includes("%")) return value;
    let out = "";
    // One pass over the value; each step consumes at least one character.
    for (let i = 0; i < value.length; i++) {
      const c = value[i];
      if (c !== "%") { out += c; continue; }
      const n = value[i + 1];
      if (n === "%") { out += "%"; i++; continue; }
      if (n !== "(") { out += "%"; continue; } // a lone '%' (as in "10%") is literal
      const end = value.indexOf(")", i + 2);
      if (end < 0) throw new ConfigError(where, `unterminated '%(' at offset ${i}`);
      const ref = value.slice(i + 2, end);
      const target = this.values.get(ref);
      if (target === undefined) throw new ConfigError(where, `refers to %(${ref}), which is not set`);
      out += this.expand(target, where, depth + 1);
      i = end;
    }
    return out;
  }

  /** Parse one `key=value` assignment (as given to `-o`); blanks around key and value are trimmed, as in a file. */
  assign(text: string): void {
    const eq = text.indexOf("=");
    if (eq <= 0) throw new ConfigError(text.trim(), `expected key=value`);
    this.set(text.slice(0, eq).trim(), text.slice(eq + 1).trim());
  }

  /**
   * Read a config file's text: `key=value` lines; blank lines and lines whose
   * first non-blank character is `#` are ignored. Leading and trailing blanks
   * around keys and values are trimmed. Errors name the key and line.
   */
  load(text: string, source = "config"): void {
    const lines = text.split(/\r?\n/);
    lines.forEach((line, i) => {
      const t = line.trim();
      if (t === "" || t.startsWith("#")) return;
      const eq = t.indexOf("=");
      if (eq <= 0) throw new ConfigError("", `${source}:${i + 1}: expected key=value, got '${t}'`);
      const key = t.slice(0, eq).trim();
      try {
        this.set(key, t.slice(eq + 1).trim());
      } catch (e) {
        if (e instanceof ConfigError) throw new ConfigError(e.key, `${e.message.slice(e.key.length + 2)} (${source}:${i + 1})`);
        throw e;
      }
    });
  }

  /** The effective configuration: `key=value` lines, keys sorted, values expanded (raw with `{ raw: true }`). */
  dump(opts: { raw?: boolean } = {}): string {
    const keys = [...this.values.keys()].sort(compareKeys);
    return keys.map((k) => `${k}=${opts.raw ? this.values.get(k) : this.get(k)}`).join("\n") + (keys.length ? "\n" : "");
  }
}

/** Order dotted keys segment by segment, numbers numerically (pci.0.10 after pci.0.9). */
export function compareKeys(a: string, b: string): number {
  const sa = a.split("."), sb = b.split(".");
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    if (sa[i] === sb[i]) continue;
    const na = /^\d+$/.test(sa[i]), nb = /^\d+$/.test(sb[i]);
    if (na && nb) return Number(sa[i]) - Number(sb[i]);
    return sa[i] < sb[i] ? -1 : 1;
  }
  return sa.length - sb.length;
}
