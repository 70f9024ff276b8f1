// NE2000 transmit: CR.TXP sends TBCR bytes from page TPSR of the buffer RAM
// (DP8390D "Packet Transmission"). The frame goes to the host outbox (or,
// with TCR.LB ≠ 0, back to the device's own receiver; while the device is a
// port of the virtual switch, into the switch: port.ts), then TSR.PTX and
// ISR.PTX. A count or start that is not a frame inside the RAM (fewer than 14
// bytes, more than MAX_FRAME, or past its end) aborts: TSR.ABT, ISR.TXE,
// TX_MALFORMED. When the host has not taken the outbox yet, the transmission
// waits with CR.TXP set (the transmitter defers) and completes when the host
// drains it (ne2kTxDrained): back-pressure instead of a dropped frame.

import {
  CR_TXP, CR_STA, TCR_LB_MASK, TSR_PTX, TSR_ABT, ISR_PTX, ISR_TXE, RAM_START, RAM_END, MAX_FRAME, ETH_HEADER,
  OUTBOX_FRAMES, SLOT_BYTES, Ne2kCounter,
} from "./defs";
import { Ne2k, count, countN, updateLine } from "./device";
import { rxLoopback } from "./rx";
import { switchForward, nswOf } from "../net/switch";
import { portId } from "../net/ports";
import { DeviceKind } from "../core/defs";

/** CR was written with TXP set. */
export function txCommand(d: Ne2k): void {
  if ((d.cr & CR_STA) == 0) { count(d, Ne2kCounter.TX_WHILE_STOPPED); return; }
  if (d.txPending) return; // the transmission already waits for the host
  d.cr |= CR_TXP;
  transmit(d);
}

function transmit(d: Ne2k): void {
  // Quiesced by the host: the transmission waits with CR.TXP set, as for a full outbox (ne2kTxResume sends it).
  if (d.quiesced != 0) { d.txPending = 1; return; }
  const start = d.tpsr << 8;
  const len = d.tbcr;
  if (len < ETH_HEADER || len > MAX_FRAME || start < RAM_START || start + len > RAM_END) {
    count(d, Ne2kCounter.TX_MALFORMED);
    d.tsr = TSR_ABT;
    finish(d, ISR_TXE);
    return;
  }
  const src = d.ram + (start - RAM_START); // inside RAM: checked above
  if (d.tcr & TCR_LB_MASK) {
    count(d, Ne2kCounter.TX_LOOPBACK);
    d.tsr = TSR_PTX;
    finish(d, ISR_PTX);
    rxLoopback(d, src, len);
    return;
  }
  const sw = nswOf(DeviceKind.NE2000, d.handle);
  if (sw != 0) {
    // A switch port (port.ts): into the switch; its receivers hold or drop, so it never defers.
    switchForward(sw, portId(DeviceKind.NE2000, d.handle), src, len);
    count(d, Ne2kCounter.TX_FRAMES);
    countN(d, Ne2kCounter.TX_BYTES, len);
    d.tsr = TSR_PTX;
    finish(d, ISR_PTX);
    return;
  }
  if (d.outFrames >= OUTBOX_FRAMES) {
    if (!d.txPending) count(d, Ne2kCounter.TX_STALLS);
    d.txPending = 1;
    return;
  }
  const s = d.outbox + <usize>d.outFrames * SLOT_BYTES;
  store<u32>(s, len);
  memory.copy(s + 4, src, len); // len ≤ MAX_FRAME < SLOT_BYTES - 4
  d.outFrames++;
  d.hostFlags |= 1;
  count(d, Ne2kCounter.TX_FRAMES);
  countN(d, Ne2kCounter.TX_BYTES, len);
  d.tsr = TSR_PTX;
  finish(d, ISR_PTX);
}

function finish(d: Ne2k, isr: u32): void {
  d.txPending = 0;
  d.cr &= ~CR_TXP;
  d.clda = ((d.tpsr << 8) + d.tbcr) & 0xffff;
  d.isr |= isr;
  updateLine(d);
}

/**
 * The host took every outbox frame: a transmission that waited goes now
 * (also if the NIC was stopped meanwhile: the chip completes a transmission
 * in progress before it stops).
 */
export function ne2kTxDrained(d: Ne2k): void {
  d.outFrames = 0;
  if (d.txPending) transmit(d);
  updateLine(d);
}

/** The host resumed a quiesced device: a transmission that waited goes now. */
export function ne2kTxResume(d: Ne2k): void {
  if (d.txPending) transmit(d);
  updateLine(d);
}
