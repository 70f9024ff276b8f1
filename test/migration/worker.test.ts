// In-process transport to a destination in a worker thread (MessagePort).
import { describe, it, expect } from "vitest";
import { MessageChannel, Worker } from "node:worker_threads";
import { migrate, PortTransport } from "../../src/migration/index.js";
import { rig, fullDigest } from "./helpers.js";

describe("worker transport", () => {
  it("migrates to a destination running in a worker thread", async () => {
    const r = await rig({ ramMiB: 4, dirtyMiBps: 8 });
    r.src.devices.length = 0; // the worker side has no devices
    await r.src.start();
    const { port1, port2 } = new MessageChannel();
    const w = new Worker(new URL("../support/ts-worker.mjs", import.meta.url), {
      workerData: { entry: new URL("../support/migration-dest.worker.ts", import.meta.url).href, data: { port: port2 } },
      transferList: [port2],
    });
    const done = new Promise<{ ok: boolean; resumed: boolean; error: string | null; digest: string }>((res, rej) => { w.once("message", res); w.once("error", rej); });
    const report = await migrate(r.src, new PortTransport(port1, "to worker"), { maxRounds: 4, downtimeLimitMs: 20 });
    const dest = await done;
    await r.src.stop();
    await w.terminate();
    expect(report.ok, report.error).toBe(true);
    expect(dest).toMatchObject({ ok: true, resumed: true });
    expect(dest.digest).toBe(fullDigest(r.src.core).toString(16));
  });
});
