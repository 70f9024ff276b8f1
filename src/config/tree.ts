// The configuration tree, in the style of bhyve's config(5): a hierarchy of
// dotted keys (`memory.size`, `pci.0.3.0.device`) whose leaves hold strings.
// Values are set from `-o key=value`, a config file or legacy shorthands, in
// order; the last write wins. A value may refer to other keys as `%(key)`,
// expanded when read (`%%` is a literal `%`, as is a `%` not followed by `(`).
//
// Every operation costs time linear in what it touches, never in the size of
// the tree: an index of internal nodes answers "is this key a node?", "is a
// prefix of it a leaf?" and "what is below this node?" without a scan, so a
// file of n lines loads in O(n). Expansion is bounded three ways, each an
// error naming the key: a depth limit (a cycle or a long chain), a length
// limit on each expanded value, and a limit on what references may add to the
// whole tree; each key is expanded once and remembered until the next write,
// so references that fan out and meet again cost one expansion per key.

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
/** Longest value in characters, as written and once expanded. */
export const MAX_VALUE_LENGTH = 65536;
/**
 * Most characters references may add to the values of one tree (the sum over
 * its keys of expanded minus written length): keeps a dump of the whole tree
 * well inside a JavaScript string and its validation within seconds.
 */
export const MAX_EXPANSION_TOTAL = 128 * 2 ** 20;

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
const KEY = /^[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$/;

/** Throw unless `key` is a dotted path of segments like `pci.0.3.0.mac`. */
export function checkKey(key: string): void {
  if (key.length === 0 || key.length > 256) throw new ConfigError(key, "a key is 1 to 256 characters");
  if (KEY.test(key)) return;
  for (const seg of key.split(".")) {
    if (!SEGMENT.test(seg)) throw new ConfigError(key, `bad key segment '${seg}' (letters, digits, '_' and '-', dot-separated)`);
  }
}

interface Leaf { raw: string; seq: number }
interface Expanded { value: string; /** Longest chain of references below this value (0: none). */ height: number }

/** A bhyve-style configuration tree. Leaves only hold values; a key is never both a leaf and a node. */
export class ConfigTree {
  private readonly values = new Map<string, Leaf>();
  /** Internal nodes: node → its child segments (leaves and nodes). The root is "". A node exists while it has a child. */
  private readonly nodes = new Map<string, Set<string>>();
  private seq = 0;
  /** Expanded values by key, valid until the next write. */
  private readonly memo = new Map<string, Expanded>();
  /** Keys being expanded, outermost first (a repeat is a cycle). */
  private readonly resolving = new Set<string>();
  /** Characters references added to the memoized values. */
  private grown = 0;
  private visits = 0;

  /**
   * Keys examined so far: index entries probed, leaves walked, references
   * resolved. A measure of work (tests bound it), not a stable API.
   */
  get keyVisits(): number { return this.visits; }

  /** Set `key` to `value` (last write wins). */
  set(key: string, value: string): void {
    checkKey(key);
    if (value.length > MAX_VALUE_LENGTH) throw new ConfigError(key, `the value is longer than ${MAX_VALUE_LENGTH} characters (${value.length})`);
    // A value is one line of a config file: control characters would not survive a dump.
    if (/[\x00-\x1f\x7f]/.test(value)) throw new ConfigError(key, "a value cannot contain line breaks or control characters");
    if (this.values.has(key)) {
      this.visits++;
      this.values.delete(key); // re-setting moves the key to the end, so dumps follow the order of the last writes
    } else {
      // bhyve: internal nodes have no value, so a key cannot be both.
      this.visits++;
      if (this.nodes.has(key)) throw new ConfigError(key, `is a node (it has ${this.someLeaf(key)}), it cannot hold a value`);
      // Up to the nearest existing node (whose own ancestors are nodes): none of these prefixes may be a leaf.
      for (let dot = key.lastIndexOf("."); dot >= 0; dot = key.lastIndexOf(".", dot - 1)) {
        const k = key.slice(0, dot);
        this.visits++;
        if (this.nodes.has(k)) break;
        if (this.values.has(k)) throw new ConfigError(key, `${k} holds a value, so it cannot have children`);
      }
      this.link(key);
    }
    this.values.set(key, { raw: value, seq: this.seq++ });
    this.written();
  }

  /** Remove `key`; true if it was set. */
  unset(key: string): boolean {
    this.visits++;
    if (!this.values.delete(key)) return false;
    this.unlink(key);
    this.written();
    return true;
  }

  has(key: string): boolean { return this.values.has(key); }

  /** The raw (unexpanded) value, or undefined. */
  raw(key: string): string | undefined { return this.values.get(key)?.raw; }

  /** The expanded value, or `fallback` when unset. */
  get(key: string, fallback?: string): string | undefined {
    const leaf = this.values.get(key);
    if (leaf === undefined) return fallback;
    if (!leaf.raw.includes("%")) { this.visits++; return leaf.raw; }
    return this.resolve(key, key, 0).value;
  }

  /** Every key set, in order of last write. */
  keys(): string[] { return [...this.values.keys()]; }

  /** Keys directly below `node` (e.g. children("pci.0") → ["3", "4"]), sorted numerically when they are numbers. */
  children(node: string): string[] {
    const below = this.nodes.get(node);
    if (!below) return [];
    this.visits += below.size;
    return [...below].sort((a, b) => (/^\d+$/.test(a) && /^\d+$/.test(b) ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
  }

  /** The leaves below `node`, relative to it (`{ device: "virtio-net", mac: "…" }`), expanded, in order of last write. */
  subtree(node: string): Record<string, string> {
    const leaves: string[] = [];
    const todo = this.nodes.has(node) ? [node] : [];
    while (todo.length) {
      const n = todo.pop()!;
      for (const child of this.nodes.get(n)!) {
        this.visits++;
        const k = n ? `${n}.${child}` : child;
        if (this.values.has(k)) leaves.push(k);
        else todo.push(k);
      }
    }
    leaves.sort((a, b) => this.values.get(a)!.seq - this.values.get(b)!.seq);
    const out: Record<string, string> = {};
    const cut = node ? node.length + 1 : 0;
    for (const k of leaves) out[k.slice(cut)] = this.get(k)!;
    return out;
  }

  /** Replace `%(key)` references in `value`; `%%` is a literal `%`. `where` names the key being expanded (for errors). */
  expand(value: string, where: string, depth = 0): string {
    return this.expandText(value, where, where, depth).value;
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
    for (let i = 0; i < lines.length; i++) {
      const t = lines[i].trim();
      if (t === "" || t.startsWith("#")) continue;
      const eq = t.indexOf("=");
      if (eq <= 0) throw new ConfigError("", `${source}:${i + 1}: expected key=value, got '${t}'`);
      const key = t.slice(0, eq).trim();
      try {
        this.set(key, t.slice(eq + 1).trim());
      } catch (e) {
        if (e instanceof ConfigError) throw new ConfigError(e.key, `${e.message.slice(e.key.length + 2)} (${source}:${i + 1})`);
        throw e;
      }
    }
  }

  /** The effective configuration: `key=value` lines, keys sorted, values expanded (raw with `{ raw: true }`). */
  dump(opts: { raw?: boolean } = {}): string {
    const keys = sortKeys([...this.values.keys()]);
    this.visits += keys.length;
    return keys.map((k) => `${k}=${opts.raw ? this.values.get(k)!.raw : this.get(k)}`).join("\n") + (keys.length ? "\n" : "");
  }

  /** Make `key` a child of its parent, and each new node a child of its own, up to a node that existed. */
  private link(key: string): void {
    for (let k = key; ;) {
      const dot = k.lastIndexOf(".");
      const parent = dot < 0 ? "" : k.slice(0, dot);
      this.visits++;
      const below = this.nodes.get(parent);
      if (below) { below.add(k.slice(dot + 1)); return; }
      this.nodes.set(parent, new Set([k.slice(dot + 1)]));
      if (dot < 0) return;
      k = parent;
    }
  }

  /** Undo link: drop `key` from its parent, and each node left empty from its own. */
  private unlink(key: string): void {
    for (let k = key; ;) {
      const dot = k.lastIndexOf(".");
      const parent = dot < 0 ? "" : k.slice(0, dot);
      this.visits++;
      const below = this.nodes.get(parent)!;
      below.delete(k.slice(dot + 1));
      if (below.size > 0) return;
      this.nodes.delete(parent);
      if (dot < 0) return;
      k = parent;
    }
  }

  /** One leaf below internal node `node` (for error messages). */
  private someLeaf(node: string): string {
    let k = node;
    for (let below = this.nodes.get(k); below; below = this.nodes.get(k)) k = `${k}.${below.values().next().value}`;
    return k;
  }

  /** Every write may change any expansion: forget them. */
  private written(): void {
    if (this.memo.size) this.memo.clear();
    this.grown = 0;
  }

  /** The expansion of stored `key`, reached `depth` references below the key being read. */
  private resolve(key: string, reading: string, depth: number): Expanded {
    this.visits++;
    if (this.resolving.has(key)) {
      const chain = [...this.resolving];
      throw new ConfigError(key, `reference cycle ${[...chain.slice(chain.indexOf(key)), key].join(" → ")}${via(key, reading)}`);
    }
    const memo = this.memo.get(key);
    if (memo) {
      if (depth + memo.height > MAX_EXPANSION_DEPTH) throw tooDeep(reading);
      return memo;
    }
    const raw = this.values.get(key)!.raw;
    this.resolving.add(key);
    let r: Expanded;
    try {
      r = this.expandText(raw, key, reading, depth);
    } finally {
      this.resolving.delete(key);
    }
    if (r.height > 0) {
      this.grown += Math.max(0, r.value.length - raw.length);
      if (this.grown > MAX_EXPANSION_TOTAL) throw new ConfigError(key, `references would add more than ${MAX_EXPANSION_TOTAL} characters to the configuration's values${via(key, reading)}`);
    }
    this.memo.set(key, r);
    return r;
  }

  /** Expand `value`, the text of `key`, read as part of `reading` at `depth`. */
  private expandText(value: string, key: string, reading: string, depth: number): Expanded {
    if (depth > MAX_EXPANSION_DEPTH) throw tooDeep(reading);
    if (!value.includes("%")) return { value, height: 0 };
    let out = "";
    let height = 0;
    // One pass over the value: each step consumes the text up to the next '%' and at least that '%'.
    for (let i = 0; i < value.length;) {
      const pct = value.indexOf("%", i);
      if (pct < 0) { out += value.slice(i); break; }
      out += value.slice(i, pct);
      const n = value[pct + 1];
      if (n === "%") { out += "%"; i = pct + 2; continue; }
      if (n !== "(") { out += "%"; i = pct + 1; continue; } // a lone '%' (as in "10%") is literal
      const end = value.indexOf(")", pct + 2);
      if (end < 0) throw new ConfigError(key, `unterminated '%(' at offset ${pct}${via(key, reading)}`);
      const ref = value.slice(pct + 2, end);
      if (!this.values.has(ref)) throw new ConfigError(key, `refers to %(${ref}), which is not set${via(key, reading)}`);
      const sub = this.resolve(ref, reading, depth + 1);
      height = Math.max(height, sub.height + 1);
      out += sub.value;
      if (out.length > MAX_VALUE_LENGTH) break;
      i = end + 1;
    }
    // Literal text is at most the written value; only references make it longer.
    if (out.length > MAX_VALUE_LENGTH) throw new ConfigError(key, `expands to a value longer than ${MAX_VALUE_LENGTH} characters${via(key, reading)}`);
    return { value: out, height };
  }
}

const via = (key: string, reading: string): string => (key === reading ? "" : ` (reading ${reading})`);
const tooDeep = (reading: string): ConfigError => new ConfigError(reading, `expansion deeper than ${MAX_EXPANSION_DEPTH} references`);

/** Order dotted keys segment by segment, numbers numerically (pci.0.10 after pci.0.9). */
export function compareKeys(a: string, b: string): number {
  return compareSegments(a.split("."), b.split("."));
}

function compareSegments(sa: string[], sb: string[]): number {
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    if (sa[i] === sb[i]) continue;
    const na = /^\d+$/.test(sa[i]), nb = /^\d+$/.test(sb[i]);
    if (na && nb) return Number(sa[i]) - Number(sb[i]);
    return sa[i] < sb[i] ? -1 : 1;
  }
  return sa.length - sb.length;
}

/** `keys` in compareKeys order, each split once. */
function sortKeys(keys: string[]): string[] {
  return keys.map((k) => ({ k, s: k.split(".") })).sort((x, y) => compareSegments(x.s, y.s)).map((x) => x.k);
}
