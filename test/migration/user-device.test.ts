// Devices the user brings: the example device (examples/my-device.mjs)
// migrates with the VM in `vmdev migrate` over TCP loopback between two
// processes, and a module that breaks the contract fails the migration
// cleanly (one clear line, the source runs again, the destination never
// resumes) whichever side it misbehaves on.
import { describe, it, expect, vi, afterEach } from "vitest";
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { main } from "../../src/cli.js";
import { guardDevice, UserDeviceError } from "../../src/migration/index.js";
import { envelopeCodec, HostKind, Status } from "../../src/index.js";

afterEach(() => { vi.restoreAllMocks(); delete process.env.VMDEV_HOSTILE_DEVICE; });

const bin = fileURLToPath(new URL("../../bin/vmdev.js", import.meta.url));
const example = fileURLToPath(new URL("../../examples/my-device.mjs", import.meta.url));
const hostile = fileURLToPath(new URL("./fixtures/hostile-device.mjs", import.meta.url));

function capture() {
  const out: string[] = [];
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => { out.push(a.join(" ")); });
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  return out;
}

/** The mailbox's fields from its envelope. */
async function mailbox(b64: string): Promise<{ rings: bigint; last: number; page: number }> {
  const env = (await envelopeCodec()).open(Buffer.from(b64, "base64"), HostKind.userFirst + 1);
  if (typeof env === "number") throw new Error(`bad envelope: status ${env}`);
  const f = new Map(env.fields.map(({ tag, value }) => [tag, new DataView(value.buffer, value.byteOffset, value.byteLength)]));
  return { rings: f.get(1)!.getBigUint64(0, true), last: f.get(2)!.getUint32(0, true), page: f.get(3)!.getUint32(0, true) };
}

describe("a device of the user's", () => {
  it("examples/my-device.mjs migrates with the VM: vmdev migrate --device, TCP loopback to a child destination (built package)", async () => {
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, "migrate", "--ram", "16M", "--vcpus", "1", "--device", example, "--json", "--no-report", "--run-after", "300"], { timeout: 180_000 },
        (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }));
    });
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: true, verified: true });
    expect(j.userDevices).toEqual([{ name: "mailbox0", kind: HostKind.userFirst + 1, saved: expect.any(String) }]);
    const dest = j.destination.userDevices;
    expect(dest).toEqual([{ name: "mailbox0", kind: HostKind.userFirst + 1, restored: j.userDevices[0].saved, afterRun: expect.any(String) }]);
    // The guest rang it on the source before the freeze, and went on ringing on the destination after resume.
    const saved = await mailbox(j.userDevices[0].saved), after = await mailbox(dest[0].afterRun);
    expect(saved.rings).toBeGreaterThan(0n);
    expect(after.rings).toBeGreaterThan(saved.rings);
    expect(saved.page).toBe(16);
  });

  it("a device whose saveState gives no bytes: the migration fails in stop-and-copy naming it, the source runs again, the destination never resumed", async () => {
    const out = capture();
    process.env.VMDEV_HOSTILE_DEVICE = "save-string";
    await expect(main(["node", "vmdev", "migrate", "--ram", "8M", "--vcpus", "1", "--device", hostile, "--json", "--no-report"]))
      .rejects.toThrow(/^migration failed in stop-copy: UserDeviceError: device hostile0: saveState returned string, want a Uint8Array; the source VM is running again$/);
    const j = JSON.parse(out.join("\n"));
    expect(j).toMatchObject({ ok: false, running: "source", failedPhase: "stop-copy", verified: false });
    expect(j.destination).toMatchObject({ ok: false, resumed: false });
  });

  it("a device whose restoreState throws on the destination: the state is refused, the source runs again", async () => {
    const out = capture();
    process.env.VMDEV_HOSTILE_DEVICE = "restore-throws";
    await expect(main(["node", "vmdev", "migrate", "--ram", "8M", "--vcpus", "1", "--device", hostile, "--json", "--no-report", "--in-process"]))
      .rejects.toThrow(/^migration failed in verify: destination refused: device state rejected \(hostile0: ERR_STATE_INVALID\); the source VM is running again$/);
    const j = JSON.parse(out.join("\n"));
    expect(j).toMatchObject({ ok: false, running: "source" });
    expect(j.destination).toMatchObject({ ok: false, resumed: false });
  });

  it("a module without createDevice, a device with a bad kind, a module that is not there: one clear line, before any page moves", async () => {
    capture();
    await expect(main(["node", "vmdev", "migrate", "--ram", "4M", "--vcpus", "1", "--in-process", "--no-report", "--device", fileURLToPath(new URL("./helpers.ts", import.meta.url))]))
      .rejects.toThrow(/^--device .*helpers\.ts: the module exports no createDevice function$/);
    process.env.VMDEV_HOSTILE_DEVICE = "bad-kind";
    await expect(main(["node", "vmdev", "migrate", "--ram", "4M", "--vcpus", "1", "--in-process", "--no-report", "--device", hostile]))
      .rejects.toThrow(/^--device .*hostile-device\.mjs: device hostile0: kind seven: want a u32$/);
    await expect(main(["node", "vmdev", "migrate", "--ram", "4M", "--vcpus", "1", "--in-process", "--no-report", "--device", "./no-such-device.mjs"]))
      .rejects.toThrow(/^--device \.\/no-such-device\.mjs: /);
  });

  it("guardDevice: what a device returns is checked on every call", () => {
    const base = { kind: 0x2_0009, name: "d0", saveState: () => new Uint8Array(2), reset: () => {} };
    expect(guardDevice({ ...base, restoreState: () => { throw new Error("x"); } }, "t").restoreState(new Uint8Array(1))).toBe(Status.ERR_STATE_INVALID);
    expect(guardDevice({ ...base, restoreState: () => "ok" }, "t").restoreState(new Uint8Array(1))).toBe(Status.ERR_STATE_INVALID);
    expect(guardDevice({ ...base, restoreState: () => Status.ERR_STATE_KIND }, "t").restoreState(new Uint8Array(1))).toBe(Status.ERR_STATE_KIND);
    expect(guardDevice({ ...base, restoreState: () => 0, framesLost: () => NaN }, "t").framesLost!()).toBe(0);
    expect(() => guardDevice({ ...base, restoreState: () => 0, saveState: () => new Uint8Array(5 << 20) }, "t").saveState()).toThrow(/saveState returned 5242880 bytes, at most/);
    expect(() => guardDevice({ ...base, name: "" , restoreState: () => 0 }, "t")).toThrow(UserDeviceError);
    expect(() => guardDevice({ ...base, restoreState: 1 }, "t")).toThrow(/restoreState is not a function/);
    expect(() => guardDevice({ ...base, restoreState: () => 0, quiesce: "soon" }, "t")).toThrow(/quiesce is not a function/);
  });

  it("the example's restoreState treats the blob as untrusted: a damaged or foreign blob is refused and the device is left as it was", async () => {
    const { Mailbox } = await import(example);
    const core = { guest: { size: 1 << 20, writeU32: () => {} } };
    const a = new Mailbox(core), b = new Mailbox(core);
    a.ring(5); a.ring(9);
    b.ring(1);
    const blob: Uint8Array = a.saveState();
    const damaged = blob.slice(); damaged[damaged.length - 1] ^= 1;
    expect(b.restoreState(damaged)).toBe(Status.ERR_STATE_CHECKSUM);
    expect(b.restoreState(new Uint8Array(3))).toBe(Status.ERR_STATE_LENGTH);
    expect(new Mailbox(core, { page: 17 }).restoreState(blob)).toBe(Status.ERR_STATE_INVALID);
    expect([b.rings, b.last]).toEqual([1n, 1]);
    expect(b.restoreState(blob)).toBe(Status.OK);
    expect([b.rings, b.last]).toEqual([2n, 9]);
  });
});

describe("docs/migrate-your-device.md", () => {
  it("the code example runs against the built package and prints what it says", async () => {
    const { readFileSync, writeFileSync, mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const doc = readFileSync(new URL("../../docs/migrate-your-device.md", import.meta.url), "utf8");
    const code = /```js\n([\s\S]*?)```/.exec(doc)![1];
    const dist = (p: string) => new URL(`../../dist/${p}`, import.meta.url).href;
    const script = code.replace('from "vmdev/testing"', `from "${dist("testing/index.js")}"`).replace('from "vmdev"', `from "${dist("index.js")}"`)
      .replace('from "./examples/my-device.mjs"', `from "${new URL("../../examples/my-device.mjs", import.meta.url).href}"`);
    const file = join(mkdtempSync(join(tmpdir(), "vmdev-doc-")), "example.mjs");
    writeFileSync(file, script);
    const out = await new Promise<string>((resolve, reject) => execFile(process.execPath, [file], { timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))));
    const expected = /\/\/ (.*)$/.exec(code.trim().split("\n").pop()!)![1];
    expect(out.trim()).toBe(expected);
  });
});
