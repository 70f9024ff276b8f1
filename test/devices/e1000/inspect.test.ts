// The inspector's e1000 decoder on blobs of a device the spec-written driver
// model programmed: rings, receive addresses, MTA and VFTA bits, RCTL and
// the backlog decode to what the driver wrote; a damaged blob spoils only
// the part it concerns.
import { describe, it, expect } from "vitest";
import { e1000Rig, MAC } from "./rig.js";
import { Reg, mtaBit } from "../../../src/guest/e1000/index.js";
import { defaultDecoders, formatInspection, inspectBlob, inspectionJson, walkFields } from "../../../src/inspect/index.js";
import { DeviceKind, sealEnvelope } from "../../../src/state.js";
import { E1000Tag } from "../../../src/devices/e1000/inspect.js";

const decoders = defaultDecoders();
const hex8 = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, "0")}`;
const bytesOf = (m: string) => Uint8Array.from(m.split(":").map((x) => parseInt(x, 16)));
const macOf = (i: number) => `01:00:5e:00:${(i >> 8).toString(16).padStart(2, "0")}:${(i & 0xff).toString(16).padStart(2, "0")}`;

function frame(dst: string, len: number, seq: number): Uint8Array {
  const f = new Uint8Array(len);
  f.set(bytesOf(dst), 0); f.set([0x52, 0x54, 0, 0, 0, 2], 6); f[12] = 0x88; f[13] = 0xb5;
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}

interface E1000Dump {
  rxRing: { base: string; length: number; descriptors: number; head: number; tail: number };
  txRing: { base: string; length: number; descriptors: number; head: number; tail: number };
  rctl: { value: string; flags: string[]; multicastOffset: number };
  tctl: { flags: string[] };
  registers: Record<string, string>;
  receiveAddresses: Array<{ index: number; mac: string; valid: boolean; addressSelect: number }>;
  multicastTable: number[];
  vlanFilter: number[];
  interrupts: { ims: string[]; line: boolean };
  link: string;
  eeprom: { mac: string; checksumValid: boolean };
  backlog: { frames: number; bytes: number; listed: Array<{ length: number; dst: string }> };
  outbox: { frames: number };
}

async function programmed() {
  const r = await e1000Rig({ driver: { multicastOffset: 2, rxDescs: 64, txDescs: 32 } });
  const groups = Array.from({ length: 17 }, (_, i) => bytesOf(macOf(i + 1)));
  r.drv.setMulticast(groups);          // RAR1..14 exact, the other 3 hashed into the MTA
  r.drv.setVlan(5, true); r.drv.setVlan(4094, true); r.drv.setVlan(77, true); r.drv.setVlan(77, false);
  r.drv.setRxMode({ broadcast: true, allmulti: false });
  expect(r.drv.transmit(frame("52:54:00:00:00:09", 100, 0))).toBe(true);
  for (let i = 0; i < 3; i++) r.dev.receive(frame(MAC, 64 + i, i));
  r.drv.service();
  expect(r.drv.takeReceived()).toHaveLength(3);
  expect(r.sent).toHaveLength(1);
  r.dev.quiesce();
  r.dev.receive(frame(MAC, 70, 10));
  r.dev.receive(frame(macOf(3), 80, 11));
  return { ...r, groups };
}

describe("inspect: e1000", () => {
  it("decodes what the driver model programmed: rings, RAR with AV, MTA and VFTA bits, RCTL, interrupts, backlog", async () => {
    const { dev, drv, groups } = await programmed();
    const blob = dev.saveState();
    const d = await inspectBlob(blob, { decoders });
    expect(d.errors).toEqual([]);
    expect(d.kindName).toBe("e1000");
    expect(d.header!.kind).toBe(DeviceKind.e1000);
    const x = d.device as E1000Dump;
    const l = drv.layout;
    expect(x.rxRing).toEqual({ base: `0x${l.rxRing.toString(16)}`, length: l.rxDescs * 16, descriptors: l.rxDescs, head: drv.read(Reg.RDH), tail: drv.read(Reg.RDT) });
    expect(x.txRing).toEqual({ base: `0x${l.txRing.toString(16)}`, length: l.txDescs * 16, descriptors: l.txDescs, head: drv.read(Reg.TDH), tail: drv.read(Reg.TDT) });
    expect(x.rxRing.head).toBe(3);          // three frames taken
    expect(x.rxRing.tail).toBe(2);          // handed back: RDT one behind the next to clean
    expect(x.txRing.tail).toBe(1);
    expect(x.receiveAddresses).toEqual([
      { index: 0, mac: MAC, valid: true, addressSelect: 0 },
      ...groups.slice(0, 14).map((_, i) => ({ index: i + 1, mac: macOf(i + 1), valid: true, addressSelect: 0 })),
    ]);
    expect(x.multicastTable).toEqual([...new Set(groups.slice(14).map((g) => mtaBit(g, 2)))].sort((a, b) => a - b));
    expect(x.multicastTable.length).toBeGreaterThan(0);
    expect(x.vlanFilter).toEqual([5, 4094]);
    expect(x.rctl.value).toBe(hex8(drv.read(Reg.RCTL)));
    expect(x.rctl.flags).toEqual(expect.arrayContaining(["EN", "BAM"]));
    expect(x.rctl.flags).not.toContain("MPE");
    expect(x.rctl.multicastOffset).toBe(2);
    expect(x.tctl.flags).toContain("EN");
    expect(x.registers.CTRL).toBe(hex8(drv.read(Reg.CTRL)));
    expect(x.registers.VET).toBe(hex8(0x8100));
    expect(x.interrupts.ims).toEqual(expect.arrayContaining(["RXT0", "TXDW", "RXDMT0", "RXSEQ", "LSC", "RXO"]));
    expect(x.link).toBe("up");
    expect(x.eeprom).toMatchObject({ mac: MAC, checksumValid: true });
    expect(x.backlog).toMatchObject({ frames: 2, bytes: 150 });
    expect(x.backlog.listed.map((f) => [f.length, f.dst])).toEqual([[70, MAC], [80, macOf(3)]]);
    expect(x.outbox.frames).toBe(0);
    expect(formatInspection(d)).toMatch(/^e1000 \(kind 8\)/);
    JSON.parse(inspectionJson(d));
  });

  it("a damaged register list or backlog spoils only its own part", async () => {
    const { dev } = await programmed();
    const blob = dev.saveState();
    const abi = new DataView(blob.buffer, blob.byteOffset).getUint32(16, true);
    const fields = walkFields(blob.subarray(48)).fields;
    const edit = (tag: number, value: (v: Uint8Array) => Uint8Array) => sealEnvelope({ kind: DeviceKind.e1000, payloadVersion: 1, abiVersion: abi }, fields.map((f) => (f.tag === tag ? { tag, value: value(f.value) } : f)));
    const odd = (await inspectBlob(await edit(E1000Tag.REGS, (v) => v.subarray(0, v.length - 3)), { decoders })).device as { registers: { error: string }; link: string };
    expect(odd.registers.error).toMatch(/not a whole number of \(offset, value\) pairs/);
    expect(odd.link).toBe("up");
    const badOff = (await inspectBlob(await edit(E1000Tag.REGS, (v) => { const c = v.slice(); new DataView(c.buffer).setUint32(0, 0x7fff_fffd, true); return c; }), { decoders })).device as { registers: { error: string } };
    expect(badOff.registers.error).toMatch(/not a register of BAR0/);
    const lying = (await inspectBlob(await edit(E1000Tag.BACKLOG, (v) => { const c = v.slice(); new DataView(c.buffer).setUint32(0, 0xffff_ff00, true); return c; }), { decoders })).device as { backlog: { error: string }; rxRing: { descriptors: number } };
    expect(lying.backlog.error).toMatch(/claims 4294967040 bytes/);
    expect(lying.rxRing.descriptors).toBe(64);
    const gone = (await inspectBlob(await sealEnvelope({ kind: DeviceKind.e1000, payloadVersion: 1, abiVersion: abi }, []), { decoders })).device as Record<string, { error: string }>;
    for (const k of ["registers", "interrupts", "timers", "link", "eeprom", "phy", "backlog", "outbox"]) expect(gone[k].error, k).toMatch(/is missing/);
  });
});
