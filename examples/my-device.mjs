// A device of your own that live-migrates with the VM (docs/migrate-your-device.md).
//
// The "mailbox" stands in for any device model you bring: something rings it
// (here a timer playing the guest's part), it counts the rings, keeps the last
// value and writes it into a guest page through the guest-memory port, so the
// write is dirty-tracked and the page migrates with RAM. Its state travels in
// a vmdev state envelope, restored as untrusted input.
//
//   vmdev migrate --device ./examples/my-device.mjs --json      (after `npm run build`)
//
import { envelopeCodec, HostKind, Status } from "vmdev";

/** This device's saved-state kind: user devices pick kinds from HostKind.userFirst up. */
export const MAILBOX_KIND = HostKind.userFirst + 1;
const VERSION = 1;
const TAG_RINGS = 1, TAG_LAST = 2, TAG_PAGE = 3;

// saveState and restoreState are synchronous: load the envelope codec once.
const codec = await envelopeCodec();

const u32 = (v) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); return b; };
const u64 = (v) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, v, true); return b; };

/** The device: implements MigratableDevice (kind, name, saveState, restoreState, reset, and the hooks). */
export class Mailbox {
  kind = MAILBOX_KIND;
  rings = 0n;
  last = 0;
  #timer = null;

  constructor(core, { name = "mailbox0", page = 16 } = {}) {
    this.core = core;
    this.name = name;
    this.page = page;
  }

  /** The guest rings: count it, keep the value, write it to the guest page (through the port: marked dirty). */
  ring(value) {
    this.rings++;
    this.last = value >>> 0;
    this.core.guest.writeU32(this.page * 4096, this.last);
  }

  /** Play the guest: ring every millisecond until stopped. */
  start() {
    this.#timer ??= setInterval(() => this.ring(Number(this.rings & 0xffffffffn) * 7 + 1), 1);
    this.#timer.unref?.();
  }

  stop() {
    clearInterval(this.#timer);
    this.#timer = null;
  }

  saveState() {
    return codec.seal({ kind: MAILBOX_KIND, payloadVersion: VERSION }, [
      { tag: TAG_RINGS, value: u64(this.rings) },
      { tag: TAG_LAST, value: u32(this.last) },
      { tag: TAG_PAGE, value: u32(this.page) },
    ]);
  }

  /** The blob comes from the other side: check everything, then change anything. */
  restoreState(blob) {
    const env = codec.open(blob, MAILBOX_KIND);
    if (typeof env === "number") return env;
    if (env.header.payloadVersion !== VERSION) return Status.ERR_STATE_VERSION;
    const f = new Map();
    for (const { tag, value } of env.fields) {
      if (f.has(tag)) return Status.ERR_STATE_INVALID;
      f.set(tag, new DataView(value.buffer, value.byteOffset, value.byteLength));
    }
    const rings = f.get(TAG_RINGS), last = f.get(TAG_LAST), page = f.get(TAG_PAGE);
    if (rings?.byteLength !== 8 || last?.byteLength !== 4 || page?.byteLength !== 4) return Status.ERR_STATE_INVALID;
    // Cross-field invariant: the page is this side's (its configuration), and the value sits inside guest RAM.
    if (page.getUint32(0, true) !== this.page || (this.page + 1) * 4096 > this.core.guest.size) return Status.ERR_STATE_INVALID;
    this.rings = rings.getBigUint64(0, true);
    this.last = last.getUint32(0, true);
    return Status.OK;
  }

  reset() {
    this.stop();
    this.rings = 0n;
    this.last = 0;
  }

  /** Under the write lock, before saveState: nothing may write guest RAM now (a write here would be lost). */
  quiesce() { this.stop(); }

  /** The migration failed: the source runs again. */
  resume() { this.start(); }

  /** The destination runs the VM: the guest goes on ringing here. */
  announce() { this.start(); }
}

/** What `vmdev migrate --device` calls on each side. */
export function createDevice({ role, core }) {
  const d = new Mailbox(core);
  if (role === "source") d.start();
  return d;
}
