// Starting worker threads whose entry is a module next to the caller, from
// compiled JavaScript (dist/) or from TypeScript sources (under vitest/tsx).

import { Worker } from "node:worker_threads";

/** The URL of module `name` beside `base` (an import.meta.url): `.ts` when running from sources, else `.js`. */
export function siblingModule(base: string, name: string): URL {
  return new URL(`./${name}${base.endsWith(".ts") ? ".ts" : ".js"}`, base);
}

/**
 * Start a worker on `entry`. `data` arrives as `workerData.data`. A `.ts`
 * entry is started through a small bootstrap that registers tsx (a
 * devDependency, present wherever the sources are); `.js` entries need nothing.
 */
export function spawnWorker(entry: URL, data: unknown, transferList?: readonly unknown[]): Worker {
  const opts = { transferList: transferList as never };
  if (entry.pathname.endsWith(".ts")) {
    return new Worker(new URL("./tsx-bootstrap.mjs", import.meta.url), { ...opts, workerData: { entry: entry.href, data } });
  }
  return new Worker(entry, { ...opts, workerData: { data } });
}
