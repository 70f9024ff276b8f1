import { Worker } from "node:worker_threads";

/** Start a worker whose entry is a TypeScript file (run through tsx). `data` arrives as workerData.data. */
export function tsWorker(entry: URL, data: unknown): Worker {
  return new Worker(new URL("./ts-worker.mjs", import.meta.url), { workerData: { entry: entry.href, data } });
}

/** Run a worker to completion: resolves on its first message or a clean exit. */
export function runTsWorker(entry: URL, data: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = tsWorker(entry, data);
    w.once("message", () => resolve());
    w.once("error", reject);
    w.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`worker exited ${code}`))));
  });
}
