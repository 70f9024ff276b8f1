// Bootstrap for the stand-in vCPU worker when running from TypeScript sources
// (tests, benchmarks): registers tsx in the worker, then imports the entry.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
