// virtio-mmio transport, version 2 (virtio 1.2 §4.2.2): one 0x200-byte
// register window, control registers 0x000–0x0FF (32-bit, aligned accesses
// only, §4.2.2.2), device configuration from 0x100 (any width 1/2/4, aligned).
// Invalid accesses read as 0, writes are dropped, BAD_ACCESS counts them.
// The interrupt is a level line: InterruptStatus ≠ 0.

import { MMIO_MAGIC, MMIO_VERSION, MMIO_VENDOR, MMIO_WINDOW, VCounter } from "./defs";
import {
  VDev, count, devSelected, devQueueWritable, devFeatureWord, devWriteDriverFeatures,
  devWriteQueueSize, devEnableQueue,
} from "./device";
import { dispNotify, dispConfigBytes, dispConfigRead, dispConfigWrite, dispWriteStatus } from "./dispatch";

const CONFIG: u32 = 0x100;

function bad(d: VDev): u32 { count(d, VCounter.BAD_ACCESS); return 0; }

export function mmioRead(d: VDev, off: u32, width: u32): u32 {
  if (width != 1 && width != 2 && width != 4) return bad(d);
  if ((off & (width - 1)) != 0 || off >= MMIO_WINDOW || off + width > MMIO_WINDOW) return bad(d);
  if (off >= CONFIG) {
    const o = off - CONFIG;
    if (o + width > dispConfigBytes(d)) return bad(d);
    return dispConfigRead(d, o, width);
  }
  if (width != 4) return bad(d);
  const q = devSelected(d);
  switch (off) {
    case 0x000: return MMIO_MAGIC;
    case 0x004: return MMIO_VERSION;
    case 0x008: return d.type;
    case 0x00c: return MMIO_VENDOR;
    case 0x010: return devFeatureWord(d, d.devFeatSel);
    case 0x034: return q == null ? 0 : q.maxSize; // §4.2.2: 0 for a queue that does not exist
    case 0x044: return q == null ? 0 : q.ready;
    case 0x060: return d.isr;
    case 0x070: return d.status;
    case 0x0b0: case 0x0b4: return 0xffffffff; // SHMLen: no shared memory region (§4.2.2)
    case 0x0b8: case 0x0bc: return 0xffffffff;
    case 0x0fc: return d.configGen;
  }
  return bad(d);
}

function setLo(a: u64, v: u32): u64 { return (a & 0xffffffff00000000) | <u64>v; }
function setHi(a: u64, v: u32): u64 { return (a & 0xffffffff) | (<u64>v << 32); }

export function mmioWrite(d: VDev, off: u32, width: u32, v: u32): void {
  if (width != 1 && width != 2 && width != 4) { bad(d); return; }
  if ((off & (width - 1)) != 0 || off >= MMIO_WINDOW || off + width > MMIO_WINDOW) { bad(d); return; }
  if (off >= CONFIG) {
    const o = off - CONFIG;
    if (o + width > dispConfigBytes(d)) { bad(d); return; }
    dispConfigWrite(d, o, width, v);
    return;
  }
  if (width != 4) { bad(d); return; }
  switch (off) {
    case 0x014: d.devFeatSel = v; return;
    case 0x020: devWriteDriverFeatures(d, d.drvFeatSel, v); return;
    case 0x024: d.drvFeatSel = v; return;
    case 0x030: d.queueSel = v; return;
    case 0x038: devWriteQueueSize(d, v); return;
    case 0x044: {
      const q = devSelected(d);
      if (q == null) { count(d, VCounter.BAD_REGISTER_VALUE); return; }
      if (v == 1) { if (q.ready == 0) devEnableQueue(d); return; }
      // §4.2.2.3: writing 0 stops the queue; the driver reads back to synchronise.
      if (v == 0) { q.ready = 0; return; }
      count(d, VCounter.BAD_REGISTER_VALUE);
      return;
    }
    case 0x050: {
      if (v < d.numQueues) dispNotify(d, v); else count(d, VCounter.BAD_REGISTER_VALUE);
      return;
    }
    case 0x064: d.isr &= ~v; return;
    case 0x070: dispWriteStatus(d, v); return;
    case 0x080: case 0x084: case 0x090: case 0x094: case 0x0a0: case 0x0a4: {
      const q = devQueueWritable(d);
      if (q == null) return;
      if (off == 0x080) q.desc = setLo(q.desc, v);
      else if (off == 0x084) q.desc = setHi(q.desc, v);
      else if (off == 0x090) q.avail = setLo(q.avail, v);
      else if (off == 0x094) q.avail = setHi(q.avail, v);
      else if (off == 0x0a0) q.used = setLo(q.used, v);
      else q.used = setHi(q.used, v);
      return;
    }
    case 0x0ac: return; // SHMSel: accepted, there are no regions
  }
  bad(d);
}

