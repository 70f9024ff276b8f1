// The synthetic guest workload's parameters and how they come from the config.

import { type ConfigTree } from "../config/tree.js";
import { valueOf } from "../config/schema.js";
import { MachineDefs } from "../generated/constants.js";

/** Which pages a vCPU's synthetic workload writes. */
export type WorkloadPattern = "uniform" | "hot" | "sequential";
/** Pattern numbers of the wasm export vcpu_dirty (assembly/machine/defs.ts). */
export const PATTERN_CODE: Record<WorkloadPattern, number> = {
  uniform: MachineDefs.PATTERN_UNIFORM, hot: MachineDefs.PATTERN_HOT, sequential: MachineDefs.PATTERN_SEQUENTIAL,
};

/** What one vCPU writes. */
export interface WorkloadSpec {
  pattern: WorkloadPattern;
  /** Page writes per second; 0 = as fast as it can. */
  rate: number;
  /** Write nothing: the vCPU runs its slices (and its extension, if any) and sleeps out the rest of each. */
  idle?: boolean;
  /** First page and page count of the window it writes. */
  firstPage: number;
  pageCount: number;
  /** Hot pattern: pages in the hot set (from the start of the window). */
  hotPages: number;
  /** Bytes per page write (multiple of 8, 8..4096). */
  writeBytes: number;
  /** Fraction of time the vCPU may run (0.01..1). */
  throttle: number;
  seed: number;
}

/** The workload of vCPU `index` from `workload.*` with `vcpu.N.workload.*` overrides. */
export function workloadFromConfig(tree: ConfigTree, index: number, ramPages: number): WorkloadSpec {
  const get = (leaf: string) => tree.get(`vcpu.${index}.workload.${leaf}`) ?? valueOf(tree, `workload.${leaf}`)!;
  const hot = get("hotset");
  const hotPages = hot.endsWith("%") ? Math.max(1, Math.floor((ramPages * Number(hot.slice(0, -1))) / 100)) : Math.min(Number(hot), ramPages);
  const rate = get("rate");
  const firstPage = Math.min(Number(get("first_page")), Math.max(0, ramPages - 1));
  const pages = get("pages");
  const pageCount = Math.max(1, Math.min(pages === "all" ? ramPages : Number(pages), ramPages - firstPage));
  return {
    pattern: get("pattern") as WorkloadPattern,
    rate: rate === "max" ? 0 : Number(rate),
    firstPage,
    pageCount,
    hotPages: Math.min(hotPages, pageCount),
    writeBytes: Number(get("write_size")),
    throttle: Number(get("throttle")),
    seed: Number(get("seed")),
  };
}
