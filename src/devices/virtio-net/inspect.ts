// Inspector decoder of a virtio-net saved state (assembly/virtio-net/state.ts):
// the virtio core and queues, MAC, link status, queue pairs, the receive
// filter (assembly/virtio-net/filter.ts region layout, saved verbatim) and the
// backlog. Queue roles follow §5.1.2: receiveq/transmitq pairs, then controlq.

import { CoreDefs, VirtioNetDefs } from "../../generated/constants.js";
import { bitList, DecodeError, hex, macText, part, type Fields } from "../../inspect/fields.js";
import type { DeviceDecoder, GuestReader } from "../../inspect/types.js";
import { decodeVirtioCore, virtioFieldName } from "../../inspect/virtqueue.js";

/** Tags of assembly/virtio-net/state.ts. */
export const NetTag = { MAC: 30, NET_STATUS: 32, CUR_PAIRS: 33, MAX_PAIRS: 34, MTU: 35, FILTER: 36, BACKLOG: 37, UNJUDGED: 38 } as const;

// Receive filter region (assembly/virtio-net/filter.ts RF_*).
export const FILTER_MAC_ENTRIES = 64;
export const RF = { FLAGS: 0, UC_COUNT: 4, MC_COUNT: 8, UC_OVERFLOW: 12, MC_OVERFLOW: 16, VLAN_ON: 20, MAC: 24, UC: 32, MC: 32 + FILTER_MAC_ENTRIES * 6 } as const;
const RF_VLAN = RF.MC + FILTER_MAC_ENTRIES * 6;
export const FILTER_BYTES = RF_VLAN + 512;
const RX_MODES: Array<[number, string]> = [[1, "promisc"], [2, "allmulti"], [4, "alluni"], [8, "nomulti"], [16, "nouni"], [32, "nobcast"]];
/** Backlog frames listed one by one (the count and bytes are always given). */
const MAX_LISTED_FRAMES = 32;

const NET_FEATURES: Record<number, string> = Object.fromEntries(
  Object.entries(VirtioNetDefs).filter(([k, v]) => k.startsWith("NET_F_") && typeof v === "number").map(([k, v]) => [v as number, k.slice(6)]));

function fieldName(tag: number): string | undefined {
  const e = Object.entries(NetTag).find(([, v]) => v === tag);
  return e ? e[0].toLowerCase() : virtioFieldName(tag);
}

function macTableAt(b: Uint8Array, off: number, count: number): string[] {
  if (count > FILTER_MAC_ENTRIES) throw new DecodeError(`table claims ${count} entries, holds at most ${FILTER_MAC_ENTRIES}`);
  return Array.from({ length: count }, (_, i) => macText(b.subarray(off + i * 6, off + i * 6 + 6)));
}

function filter(f: Fields) {
  const b = f.bytes(NetTag.FILTER, FILTER_BYTES);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const flags = dv.getUint32(RF.FLAGS, true);
  const ucCount = dv.getUint32(RF.UC_COUNT, true), mcCount = dv.getUint32(RF.MC_COUNT, true);
  return {
    rxModes: RX_MODES.filter(([bit]) => flags & bit).map(([, n]) => n).concat(flags & ~63 ? [hex(flags & ~63)] : []),
    mac: macText(b.subarray(RF.MAC, RF.MAC + 6)),
    unicast: { overflow: dv.getUint32(RF.UC_OVERFLOW, true) === 1, entries: part(() => macTableAt(b, RF.UC, ucCount)) },
    multicast: { overflow: dv.getUint32(RF.MC_OVERFLOW, true) === 1, entries: part(() => macTableAt(b, RF.MC, mcCount)) },
    vlanFilter: dv.getUint32(RF.VLAN_ON, true) === 1,
    vlans: bitList(b.subarray(RF_VLAN, RF_VLAN + 512)),
  };
}

function backlog(f: Fields) {
  const b = f.bytes(NetTag.BACKLOG);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const frames: Array<{ length: number; dst: string; src: string; ethertype: string }> = [];
  let count = 0, bytes = 0, o = 0;
  // Bounded: each step consumes ≥ 4 bytes of the field.
  while (o < b.length) {
    if (b.length - o < 4) throw new DecodeError(`backlog: ${b.length - o} trailing bytes at offset ${o}`);
    const l = dv.getUint32(o, true);
    if (l > b.length - o - 4) throw new DecodeError(`backlog frame ${count} claims ${l} bytes, ${b.length - o - 4} remain`);
    const fr = b.subarray(o + 4, o + 4 + l);
    if (frames.length < MAX_LISTED_FRAMES) {
      frames.push(l >= 14
        ? { length: l, dst: macText(fr.subarray(0, 6)), src: macText(fr.subarray(6, 12)), ethertype: hex((fr[12] << 8) | fr[13], 4) }
        : { length: l, dst: "?", src: "?", ethertype: "?" });
    }
    count++; bytes += l; o += 4 + l;
  }
  return { frames: count, bytes, listed: frames };
}

/** Queue roles (§5.1.2): pairs of receiveq/transmitq, then the controlq if there is one. */
function roles(numQueues: number, maxPairs: number): string[] {
  return Array.from({ length: numQueues }, (_, i) => (i < 2 * maxPairs ? `${i % 2 ? "transmitq" : "receiveq"}${i >> 1}` : "controlq"));
}

function decode(f: Fields, guest?: GuestReader) {
  return {
    ...decodeVirtioCore(f, NET_FEATURES, (n) => roles(n, f.u32(NetTag.MAX_PAIRS)), guest),
    mac: part(() => {
      const m = f.u64(NetTag.MAC);
      const b = new Uint8Array(6);
      for (let i = 0; i < 6; i++) b[i] = Number((m >> BigInt(8 * i)) & 0xffn);
      return macText(b);
    }),
    linkStatus: part(() => {
      const s = f.u32(NetTag.NET_STATUS);
      return [...(s & VirtioNetDefs.NET_S_LINK_UP ? ["LINK_UP"] : []), ...(s & VirtioNetDefs.NET_S_ANNOUNCE ? ["ANNOUNCE"] : []), ...(s & ~3 ? [hex(s & ~3)] : [])];
    }),
    queuePairs: part(() => ({ current: f.u32(NetTag.CUR_PAIRS), max: f.u32(NetTag.MAX_PAIRS) })),
    mtu: part(() => f.u32(NetTag.MTU)),
    filter: part(() => filter(f)),
    backlog: part(() => backlog(f)),
    /** Frames at the backlog's tail held while quiesced, judged by the filter on delivery (absent: none). */
    backlogUnjudged: part(() => (f.has(NetTag.UNJUDGED) ? f.u32(NetTag.UNJUDGED) : 0)),
  };
}

/** The virtio-net decoder for the inspector's table. */
export const virtioNetDecoder: DeviceDecoder = {
  kind: CoreDefs.DeviceKind.VIRTIO_NET,
  name: "virtio-net",
  fieldName,
  decode: (f, ctx) => decode(f, ctx.guest),
};
