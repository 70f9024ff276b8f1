// The control channel from another process, as an operator uses it: a
// `vmdev run --traffic --control SOCK` child, asked over its socket by this
// process and by `vmdev inspect --control` (a third process) for its status,
// counters, a device's live dump and a trace of its events; hostile requests
// get one error line each; SIGINT ends the run cleanly with status 130.
// Every wait is for an event (a line printed, an answer, the exit).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { controlRequest, MAX_LINE, parseRequest } from "../../src/control/index.js";

const bin = fileURLToPath(new URL("../../bin/vmdev.js", import.meta.url));
const sock = join(mkdtempSync(join(tmpdir(), "vmdev-ctl-")), "run.sock");
let child: ChildProcess;
let stderr = "";
let exited: Promise<number | null>;

/** Send raw lines on a fresh connection; resolve with the answer lines (streamed trace events left out) once `n` came (or the socket closed). */
function raw(text: string, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = createConnection(sock);
    let buf = "";
    const lines = () => buf.split("\n").filter((l) => l !== "" && !l.startsWith("{\"id\":null,\"event\""));
    c.setEncoding("utf8");
    c.on("connect", () => c.write(text));
    c.on("data", (d: string) => { buf += d; if (lines().length >= n) { c.destroy(); resolve(lines()); } });
    c.on("close", () => resolve(lines()));
    c.on("error", reject);
  });
}

const cli = (...args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
  execFile(process.execPath, [bin, ...args], { maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout, stderr }));
});

beforeAll(async () => {
  child = spawn(process.execPath, [bin, "run", "--traffic", "--control", sock, "-m", "32M", "-c", "1", "--duration", "3600000", "--freeze-ms", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  child.stderr!.on("data", (b) => { stderr += b; });
  exited = new Promise((r) => child.on("exit", (code) => r(code)));
  let out = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (b) => { out += b; if (out.includes(`control: ${sock}`)) resolve(); });
    child.on("exit", (code) => reject(new Error(`vmdev run exited (${code}) before serving: ${stderr}`)));
  });
});

afterAll(() => { if (child.exitCode === null) child.kill("SIGKILL"); });

describe("control channel (vmdev run --control)", () => {
  it("status and counters: the run's phase, the machine's devices, every device's counters as plain numbers", async () => {
    const st = await controlRequest(sock, { cmd: "status" });
    expect(st.ok).toBe(true);
    const s = st.result as { command: string; phase: string; machine: { devices: string[] }; traffic: { sent: number } };
    expect(s.command).toBe("run");
    expect(s.machine.devices).toContain("virtio-net0");
    expect(s.machine.devices).toContain("lapic0");
    const c = await controlRequest(sock, { cmd: "counters" });
    const counters = c.result as { core: Record<string, number>; devices: Record<string, Record<string, number> | null> };
    for (const name of s.machine.devices) {
      expect(counters.devices[name]).not.toBeNull();
      expect(Object.values(counters.devices[name]!).every((v) => typeof v === "number")).toBe(true);
    }
    expect(typeof counters.core.gmRangeErrors).toBe("number");
  });

  it("inspect: a live dump of the virtio-net, from this process and from `vmdev inspect --control`", async () => {
    const a = await controlRequest(sock, { cmd: "inspect", device: "virtio-net0" });
    expect(a.ok).toBe(true);
    const dump = a.result as { name: string; state: { kindName: string; errors: string[]; fields: unknown[] } };
    expect(dump.name).toBe("virtio-net0");
    expect(dump.state.kindName).toMatch(/virtio-net/);
    expect(dump.state.errors).toEqual([]);
    expect(dump.state.fields.length).toBeGreaterThan(0);
    const byNode = await controlRequest(sock, { cmd: "inspect", device: "pci.0.3.0" });
    expect((byNode.result as { name: string }).name).toBe("virtio-net0");
    const r = await cli("inspect", "--control", sock, "virtio-net0");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^device virtio-net0:\n {2}virtio-net/);
  });

  it("trace: the virtio-net's frames as the traffic flows (bounded by count), here and through `vmdev inspect --control --trace`", async () => {
    const events: Array<{ type: string; device: string; length: number }> = [];
    const a = await controlRequest(sock, { cmd: "trace", device: "virtio-net0", events: ["transmit", "receive"], count: 40, ms: 600_000 }, (e) => events.push(e as never));
    expect(a.ok).toBe(true);
    expect(a.result).toMatchObject({ events: 40, ended: "count" });
    expect(events.length).toBe(40);
    expect(events.every((e) => e.device === "virtio-net0" && (e.type === "transmit" || e.type === "receive") && e.length === 128)).toBe(true);
    const r = await cli("inspect", "--control", sock, "--trace", "600000", "--count", "5", "--events", "interrupt", "virtio-net0");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string });
    expect(lines.length).toBe(5);
    expect(lines.every((e) => e.type === "interrupt")).toBe(true);
  });

  it("hostile and wrong requests: one error line each, the server keeps serving", async () => {
    const lines = await raw(["not-a-command", "{\"cmd\":1}", "{nope", "inspect nosuch", "trace lapic0", "trace virtio-net0 10 5 extra", "cancel", "{\"cmd\":\"trace\",\"device\":\"virtio-net0\",\"events\":[\"bogus\"]}", ""].join("\n"), 8);
    const ans = lines.map((l) => JSON.parse(l) as { ok: boolean; error?: string });
    expect(ans.slice(0, 5).every((x) => x.ok === false)).toBe(true);
    expect(ans[0].error).toMatch(/unknown command/);
    expect(ans[1].error).toMatch(/"cmd"/);
    expect(ans[2].error).toMatch(/bad request/);
    expect(ans[3].error).toMatch(/no device "nosuch".*virtio-net0/);
    expect(ans[4].error).toMatch(/"lapic0" has no events/);
    expect(ans[5].ok).toBe(true);
    expect(ans[6].error).toMatch(/nothing to cancel/);
    expect(ans[7].error).toMatch(/unknown event type bogus/);
    const long = await raw("x".repeat(MAX_LINE + 10), 1);
    expect(JSON.parse(long[0]).error).toMatch(/longer than/);
    // A long line inside one chunk, a request after it: the error, then the connection closes unanswered.
    const longThenMore = await raw("status\n" + "y".repeat(MAX_LINE + 1) + "\nstatus\n", 3);
    expect(longThenMore.length).toBe(2);
    expect(JSON.parse(longThenMore[0]).ok).toBe(true);
    expect(JSON.parse(longThenMore[1]).error).toMatch(/longer than/);
    expect((await controlRequest(sock, { cmd: "status" })).ok).toBe(true);
    expect(parseRequest("trace virtio-net0 250 9")).toEqual({ id: null, cmd: "trace", device: "virtio-net0", ms: 250, count: 9 });
    expect(() => parseRequest("trace virtio-net0 -1")).toThrow(/want a number/);
  });

  it("a second server on the same socket is refused while the first lives", async () => {
    const r = await cli("run", "--control", sock, "-m", "16M", "-c", "1", "--duration", "10");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/another process listens there/);
    expect((await controlRequest(sock, { cmd: "status" })).ok).toBe(true);
  });

  it("SIGINT ends the run cleanly: exit status 130, the machine stopped", async () => {
    child.kill("SIGINT");
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/vmdev run: interrupted \(running\); machine stopped/);
    await expect(controlRequest(sock, { cmd: "status" })).rejects.toThrow(/control/);
  });
});
