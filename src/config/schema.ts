// The schema of known configuration keys: each key pattern (`*` matches one
// segment) with a validator that returns a problem or null, and the default.
// Device keys below `pci.B.S.F.` belong to the device named by its `device`
// key; the device registry supplies their validators.

import { ConfigError, type ConfigTree } from "./tree.js";
import { CoreDefs } from "../generated/constants.js";

/** Returns a description of what is wrong with `value`, or null if it is acceptable. */
export type Validator = (value: string) => string | null;

/** One known key. */
export interface KeySpec {
  /** Dotted pattern; `*` matches exactly one segment. */
  pattern: string;
  validate: Validator;
  /** Default when unset (documented in dumps of the schema). */
  default?: string;
  description: string;
}

/** Parse a size like `64M`, `512k`, `1G`, `1GiB`, `4096` (bytes); suffixes are binary; NaN when malformed. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+)\s*(?:([kKmMgGtT])(?:i?[bB])?|[bB])?\s*$/.exec(text);
  if (!m) return NaN;
  const mult = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[(m[2] ?? "").toLowerCase() as "" | "k" | "m" | "g" | "t"];
  return Number(m[1]) * mult;
}

/** bhyve's boolean words (config(5)). */
export function parseBool(text: string): boolean | undefined {
  const t = text.toLowerCase();
  if (["true", "on", "yes", "1"].includes(t)) return true;
  if (["false", "off", "no", "0"].includes(t)) return false;
  return undefined;
}

/** Validator builders for key specs (device factories use them too). */
export const validators = {
  int(min: number, max: number): Validator {
    return (v) => (/^\d+$/.test(v) && Number(v) >= min && Number(v) <= max ? null : `want a whole number from ${min} to ${max}, got '${v}'`);
  },
  number(min: number, max: number): Validator {
    return (v) => (v.trim() !== "" && Number.isFinite(Number(v)) && Number(v) >= min && Number(v) <= max ? null : `want a number from ${min} to ${max}, got '${v}'`);
  },
  oneOf(...words: string[]): Validator {
    return (v) => (words.includes(v) ? null : `want one of ${words.join(", ")}, got '${v}'`);
  },
  bool(): Validator {
    return (v) => (parseBool(v) === undefined ? `want a boolean (true/false, on/off, yes/no, 1/0), got '${v}'` : null);
  },
  size(min: number, max: number, multiple = 1): Validator {
    return (v) => {
      const n = parseSize(v);
      if (!Number.isFinite(n)) return `want a size like 64M or 4096, got '${v}'`;
      if (n < min || n > max) return `size ${v} is outside ${min}..${max} bytes`;
      if (n % multiple) return `size ${v} is not a multiple of ${multiple} bytes`;
      return null;
    };
  },
  mac(): Validator {
    return (v) => (/^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$/.test(v) ? null : `want a MAC address like 02:00:00:00:00:01, got '${v}'`);
  },
  any(): Validator { return () => null; },
  name(): Validator {
    return (v) => (/^[A-Za-z0-9_.-]{1,64}$/.test(v) ? null : `want 1 to 64 of letters, digits, '_', '.', '-', got '${v}'`);
  },
};

/** Largest guest RAM vmdev places in its own memory (3.75 GiB: the wasm's MAX_OWN_RAM_PAGES). */
export const MAX_RAM_BYTES = CoreDefs.MAX_OWN_RAM_PAGES * CoreDefs.PAGE_SIZE;
/** Most vCPUs a machine may have (the MADT/SMBIOS tables of src/platform and the APIC model go further). */
export const MAX_VCPUS = 1024;

/** Workload keys, valid both as `workload.X` (all vCPUs) and `vcpu.N.workload.X` (one vCPU). */
const WORKLOAD_KEYS: Array<Omit<KeySpec, "pattern"> & { leaf: string }> = [
  { leaf: "pattern", validate: validators.oneOf("uniform", "hot", "sequential"), default: "uniform", description: "which pages the synthetic guest writes" },
  { leaf: "rate", validate: (v) => (v === "max" ? null : validators.int(0, 1e9)(v)), default: "max", description: "page writes per second per vCPU (max = unlimited)" },
  { leaf: "hotset", validate: (v) => (/^\d+(\.\d+)?%$/.test(v) && Number(v.slice(0, -1)) > 0 && Number(v.slice(0, -1)) <= 100 ? null : validators.int(1, 2 ** 30)(v)), default: "10%", description: "hot pattern: hot pages (a count, or a percent of the window)" },
  { leaf: "write_size", validate: (v) => (validators.int(8, 4096)(v) ?? (Number(v) % 8 ? `want a multiple of 8, got '${v}'` : null)), default: "8", description: "bytes written per page write (multiple of 8, ≤ 4096)" },
  { leaf: "throttle", validate: validators.number(0.01, 1), default: "1", description: "fraction of time the vCPU may run (auto-converge lowers it)" },
  { leaf: "seed", validate: validators.int(0, 2 ** 32 - 1), default: "1", description: "PRNG seed of the page choice (the vCPU index is mixed in)" },
  { leaf: "first_page", validate: validators.int(0, 2 ** 30), default: "0", description: "first guest page of the window the synthetic guest writes (keep it off a guest driver's rings)" },
  { leaf: "pages", validate: (v) => (v === "all" ? null : validators.int(1, 2 ** 30)(v)), default: "all", description: "pages in that window (all = up to the end of RAM)" },
];

/** The machine's known keys (device keys are checked through the device registry). */
export const MACHINE_SCHEMA: KeySpec[] = [
  { pattern: "name", validate: validators.name(), default: "vm", description: "the VM's name" },
  { pattern: "memory.size", validate: validators.size(64 * 1024, MAX_RAM_BYTES, 64 * 1024), default: "64M", description: "guest RAM (K/M/G suffixes; multiple of 64 KiB)" },
  { pattern: "cpus", validate: validators.int(1, MAX_VCPUS), default: "1", description: "number of vCPUs" },
  { pattern: "vcpu.slice_us", validate: validators.int(50, 1_000_000), default: "1000", description: "longest a vCPU runs between checks for freeze requests and throttle" },
  { pattern: "vcpu.threads", validate: (v) => (v === "auto" ? null : validators.int(1, MAX_VCPUS)(v)), default: "auto", description: "worker threads the vCPUs are multiplexed onto (auto = one per vCPU up to the host's available parallelism; more than cpus means cpus)" },
  { pattern: "vcpu.extension", validate: (v) => (v.trim() ? null : "want a module path or URL"), description: "module each vCPU worker imports to do guest work beyond page writes (VcpuExtension)" },
  { pattern: "lock.leases", validate: validators.int(1, 4096), default: "64", description: "most leases held at once (device workers, timers)" },
  { pattern: "lock.timeout_ms", validate: validators.int(1, 3_600_000), default: "5000", description: "default timeout of the VM lock's waits" },
  { pattern: "var.*", validate: validators.any(), description: "free variables for %(var.x) references" },
  ...WORKLOAD_KEYS.map((k) => ({ ...k, pattern: `workload.${k.leaf}` })),
  ...WORKLOAD_KEYS.map((k) => ({ ...k, pattern: `vcpu.*.workload.${k.leaf}`, default: undefined, description: `${k.description} (this vCPU)` })),
];

/** True if dotted `key` matches `pattern` (`*` = one segment). */
export function matchKey(pattern: string, key: string): boolean {
  const p = pattern.split("."), k = key.split(".");
  return p.length === k.length && p.every((s, i) => s === "*" || s === k[i]);
}

// Schemas split into segments once (a config of a million keys looks each one up).
const splitSchemas = new WeakMap<readonly KeySpec[], { length: number; split: Array<{ segs: string[]; spec: KeySpec }> }>();

/** Find the schema entry for `key`, if any (the first that matches). */
export function findSpec(schema: readonly KeySpec[], key: string): KeySpec | undefined {
  let cached = splitSchemas.get(schema);
  if (!cached || cached.length !== schema.length) {
    cached = { length: schema.length, split: schema.map((spec) => ({ segs: spec.pattern.split("."), spec })) };
    splitSchemas.set(schema, cached);
  }
  const k = key.split(".");
  for (const { segs, spec } of cached.split) if (segs.length === k.length && segs.every((s, i) => s === "*" || s === k[i])) return spec;
  return undefined;
}

/** The expanded value of `key`, or its schema default. */
export function valueOf(tree: ConfigTree, key: string, schema: readonly KeySpec[] = MACHINE_SCHEMA): string | undefined {
  return tree.get(key) ?? findSpec(schema, key)?.default;
}

/** Throw a ConfigError naming the key if `value` fails `spec`. */
export function checkValue(spec: KeySpec, key: string, value: string): void {
  const problem = spec.validate(value);
  if (problem) throw new ConfigError(key, problem);
}
