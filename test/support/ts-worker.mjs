// Bootstrap for TypeScript worker entry points under test: registers tsx's
// loader in this worker, then imports the real entry named in workerData.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
