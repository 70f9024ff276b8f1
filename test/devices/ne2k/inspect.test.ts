// The inspector's NE2000 decoder on blobs of a board the spec-written driver
// model programmed: the page registers, PAR, MAR bits and the receive ring
// decode to what the driver wrote (read back through the board's own pages);
// frames waiting behind a full ring show in the backlog; a damaged blob
// spoils only the part it concerns.
import { describe, it, expect } from "vitest";
import { ne2kRig, ethFrame, serviceAll, GUEST_MAC, macBytes } from "../../support/ne2k/rig.js";
import { Cmd, type PortIo } from "../../../src/guest/ne2k/index.js";
import { defaultDecoders, formatInspection, inspectBlob, inspectionJson, walkFields } from "../../../src/inspect/index.js";
import { DeviceKind, sealEnvelope } from "../../../src/state.js";
import { Ne2kTag } from "../../../src/devices/ne2k/inspect.js";
import { macText } from "../../../src/inspect/fields.js";

const decoders = defaultDecoders();
const h2 = (v: number) => `0x${v.toString(16).padStart(2, "0")}`;

/** Read register `r` of `page` through the port window, leaving page 0 selected and the run state as it was. */
function peek(io: PortIo, page: number, r: number): number {
  const cr = io.read(0, 1) & 0x3f;
  io.write(0, 1, (cr & ~0x38) | Cmd.NODMA | (page << 6));
  const v = io.read(r, 1);
  io.write(0, 1, (cr & ~0x38) | Cmd.NODMA);
  return v;
}

const bitsOf = (bytes: Uint8Array) => { const o: number[] = []; bytes.forEach((b, i) => { for (let k = 0; k < 8; k++) if (b & (1 << k)) o.push(8 * i + k); }); return o; };

interface Ne2kDump {
  bus: string; mac: string; par: string; mar: number[];
  cr: { state: string; page: number; transmitting: boolean; remoteDma: string };
  isr: string[]; imr: string[]; rcr: string[]; tsr: string[];
  dcr: { value: string }; tcr: { value: string; loopback: string };
  ring: { pstart: string; pstop: string; bnry: string; curr: string; pages: number; pagesUnread: number | null };
  transmit: { tpsr: string; pending: boolean };
  remoteDma: { mode: string };
  backlog: { frames: number; bytes: number; listed: Array<{ length: number; status: string[]; dst: string }> };
  outbox: { frames: number };
}

async function programmed() {
  const r = await ne2kRig({ via: "window", driver: { txStartPage: 0x40, rxStartPage: 0x50, stopPage: 0x7e, dataWidth: 16 } });
  const groups = [macBytes("01:00:5e:00:00:01"), macBytes("33:33:00:00:00:fb"), macBytes("01:80:c2:00:00:0e")];
  r.drv.setMulticast(groups);
  expect(r.drv.transmit(ethFrame("52:54:00:00:00:09", 1, 200))).toBe(true);
  for (let i = 0; i < 3; i++) r.dev.receive(ethFrame(GUEST_MAC, i, 64));
  expect(serviceAll(r)).toHaveLength(3);
  expect(r.sent).toHaveLength(1);
  // 12 full frames against a 46-page ring (6 pages each): the ring fills, the rest waits in the backlog.
  for (let i = 0; i < 12; i++) r.dev.receive(ethFrame(GUEST_MAC, 100 + i, 1514));
  return { ...r, groups };
}

describe("inspect: NE2000", () => {
  it("decodes what the driver model programmed: page registers, PAR, MAR bits, the ring, the backlog", async () => {
    const { dev, drv, io } = await programmed();
    const want = {
      pstart: peek(io, 2, 1), pstop: peek(io, 2, 2), tpsr: peek(io, 2, 4), rcr: peek(io, 2, 0x0c), tcr: peek(io, 2, 0x0d), dcr: peek(io, 2, 0x0e), imr: peek(io, 2, 0x0f),
      bnry: peek(io, 0, 3), curr: peek(io, 1, 7), isr: peek(io, 0, 7),
      par: macText(Uint8Array.from({ length: 6 }, (_, i) => peek(io, 1, 1 + i))),
      mar: Uint8Array.from({ length: 8 }, (_, i) => peek(io, 1, 8 + i)),
    };
    const blob = dev.saveState();
    const d = await inspectBlob(blob, { decoders });
    expect(d.errors).toEqual([]);
    expect(d.kindName).toBe("ne2000");
    expect(d.header!.kind).toBe(DeviceKind.ne2000);
    const x = d.device as Ne2kDump;
    expect(x.bus).toBe("pci");
    expect(x.mac).toBe(GUEST_MAC);
    expect(x.par).toBe(GUEST_MAC);
    expect(x.par).toBe(want.par);
    expect(want.mar).toEqual(drv.multicastBytes);
    expect(x.mar).toEqual(bitsOf(drv.multicastBytes));
    expect(x.mar.length).toBeGreaterThan(0);
    expect(x.ring).toMatchObject({ pstart: h2(0x50), pstop: h2(0x7e), pages: 0x2e, bnry: h2(want.bnry), curr: h2(want.curr) });
    expect([want.pstart, want.pstop]).toEqual([0x50, 0x7e]);
    const next = want.bnry + 1 >= 0x7e ? 0x50 : want.bnry + 1;
    expect(x.ring.pagesUnread).toBe((want.curr - next + 0x2e) % 0x2e);
    expect(x.transmit).toEqual({ tpsr: h2(want.tpsr), tbcr: expect.any(Number), pending: false });
    expect(x.cr).toMatchObject({ state: "started", page: 0, transmitting: false });
    expect(x.rcr).toEqual(expect.arrayContaining(["AB", "AM"]));
    expect(x.rcr).not.toContain("PRO");
    expect(x.tcr.value).toBe(h2(want.tcr));
    expect(x.dcr.value).toBe(h2(want.dcr));
    const names = ["PRX", "PTX", "RXE", "TXE", "OVW", "CNT", "RDC", "RST"];
    expect(x.imr).toEqual(names.filter((_, k) => want.imr & (1 << k)));
    expect(x.isr).toEqual(names.filter((_, k) => want.isr & (1 << k)));
    expect(x.isr).toContain("PRX");
    expect(x.tsr).toContain("PTX");
    expect(x.backlog.frames).toBeGreaterThan(0);
    expect(x.backlog.bytes).toBe(1514 * x.backlog.frames);
    for (const f of x.backlog.listed) expect(f).toMatchObject({ length: 1514, dst: GUEST_MAC, status: ["PRX"] });
    expect(x.outbox.frames).toBe(0);
    // The frames in the ring and the backlog are the 12 delivered: service them all and count.
    const got: number[] = [];
    for (let i = 0; i < 64 && got.length < 12; i++) { drv.service(); got.push(...drv.takeReceived().map((f) => f.length)); }
    expect(got.filter((l) => l === 1514)).toHaveLength(12);
    expect(formatInspection(d)).toMatch(/^ne2000 \(kind 9\)/);
    JSON.parse(inspectionJson(d));
  });

  it("a register wider than its width, a lying backlog or missing fields spoil only their own parts", async () => {
    const { dev } = await programmed();
    const blob = dev.saveState();
    const abi = new DataView(blob.buffer, blob.byteOffset).getUint32(16, true);
    const fields = walkFields(blob.subarray(48)).fields;
    const edit = (tag: number, value: (v: Uint8Array) => Uint8Array) => sealEnvelope({ kind: DeviceKind.ne2000, payloadVersion: 1, abiVersion: abi }, fields.map((f) => (f.tag === tag ? { tag, value: value(f.value) } : f)));
    const u32 = (v: number) => () => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return b; };
    const wide = (await inspectBlob(await edit(Ne2kTag.CURR, u32(0x1234)), { decoders })).device as { ring: { error: string }; par: string };
    expect(wide.ring.error).toMatch(/field 21 \(curr\) is 0x1234, wider than 8 bits/);
    expect(wide.par).toBe(GUEST_MAC);
    const lying = (await inspectBlob(await edit(Ne2kTag.BACKLOG, (v) => { const c = v.slice(); new DataView(c.buffer).setUint32(0, 0xffff_ff00, true); return c; }), { decoders })).device as { backlog: { error: string }; mar: number[] };
    expect(lying.backlog.error).toMatch(/claims 4294967040 bytes/);
    expect(lying.mar.length).toBeGreaterThan(0);
    const gone = (await inspectBlob(await sealEnvelope({ kind: DeviceKind.ne2000, payloadVersion: 1, abiVersion: abi }, []), { decoders })).device as Record<string, { error: string }>;
    for (const k of ["bus", "mac", "cr", "isr", "ring", "par", "mar", "pci", "ram", "backlog", "outbox"]) expect(gone[k].error, k).toMatch(/is missing/);
  });
});
