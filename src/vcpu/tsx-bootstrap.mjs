// Worker bootstrap used only when vmdev runs from its TypeScript sources
// (tests, benches): registers tsx in this worker, then imports the entry.
// The compiled package (dist/) starts its .js workers directly and never loads this.
import { workerData } from "node:worker_threads";
import { register } from "tsx/esm/api";

register();
await import(workerData.entry);
