// A destination in its own process for test/migration/tcp.test.ts: listens on
// 127.0.0.1 (free port), prints "listening 127.0.0.1:PORT", receives one VM,
// prints the result as one JSON line.
import { loadModule } from "../../src/load-node.js";
import { runDestinationRole } from "../../src/migration/roles.js";

const module = await loadModule("release");
const res = await runDestinationRole({ module, variant: "release", port: 0, runAfterMs: 50, vcpus: 1, dirtyBytesPerSec: 1 << 20,
  onListening: (p) => console.log(`listening 127.0.0.1:${p}`) });
console.log(JSON.stringify({ ok: res.ok, resumed: res.resumed, error: res.error ?? null, digest: res.digest ?? null, writesAfterResume: res.writesAfterResume }));
