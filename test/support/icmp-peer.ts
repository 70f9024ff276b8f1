// A peer on a relay hub that pings a guest: ICMP echo requests numbered by
// sequence (a 32-bit number in the payload, so it never wraps within a
// test), replies counted by that number; it answers ARP for its address
// (the guest asks before its first reply) with the Responder.
import { WebSocket } from "ws";
import { Responder, internetChecksum, parseIpv4 } from "../../src/net/responder.js";
import { parseMac } from "../../src/net/mac.js";

export interface IcmpPeerOptions { url: string; mac: string; ip: string; guestMac: string; guestIp: string; id?: number }

export class IcmpPeer {
  /** Sequence numbers answered (each once; repeats counted in `duplicates`). */
  readonly replied = new Set<number>();
  duplicates = 0;
  /** The last sequence number sent (they start at 1). */
  sent = 0;
  private readonly responder: Responder;
  private readonly waiters: Array<{ done: () => boolean; resolve: () => void }> = [];
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly id: number;

  private constructor(private readonly ws: WebSocket, private readonly o: IcmpPeerOptions) {
    this.responder = new Responder({ mac: o.mac, ip: o.ip });
    this.id = o.id ?? 0x7a11;
    ws.on("message", (data: Buffer, binary: boolean) => { if (binary) this.onFrame(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)); });
  }

  static async connect(o: IcmpPeerOptions): Promise<IcmpPeer> {
    const ws = new WebSocket(o.url);
    await new Promise<void>((resolve, reject) => { ws.once("open", () => resolve()); ws.once("error", reject); });
    return new IcmpPeer(ws, o);
  }

  /** Send one echo request every `everyMs` until stop(). */
  start(everyMs: number): void { this.timer ??= setInterval(() => this.sendRequest(), everyMs); }
  stop(): void { if (this.timer) clearInterval(this.timer); this.timer = null; }

  /** Resolves once `done()` holds (checked on every reply); rejects after `ms` (a watchdog, with `what` and the counts). */
  until(done: () => boolean, ms: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { done, resolve: () => { clearTimeout(t); resolve(); } };
      const t = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); reject(new Error(`${what}: not within ${ms} ms (sent ${this.sent}, replied ${this.replied.size})`)); }, ms);
      this.waiters.push(w);
    });
  }

  close(): void { this.stop(); this.ws.terminate(); }

  private sendRequest(): void {
    const seq = ++this.sent;
    const f = new Uint8Array(14 + 20 + 8 + 32);
    f.set(parseMac(this.o.guestMac), 0); f.set(parseMac(this.o.mac), 6);
    f[12] = 0x08; f[13] = 0x00;
    const ip = 14, dv = new DataView(f.buffer);
    f[ip] = 0x45; dv.setUint16(ip + 2, 20 + 8 + 32); dv.setUint16(ip + 4, seq & 0xffff); f[ip + 8] = 64; f[ip + 9] = 1;
    f.set(parseIpv4(this.o.ip), ip + 12); f.set(parseIpv4(this.o.guestIp), ip + 16);
    dv.setUint16(ip + 10, internetChecksum(f, ip, 20));
    const icmp = ip + 20;
    f[icmp] = 8; dv.setUint16(icmp + 4, this.id); dv.setUint16(icmp + 6, seq & 0xffff); dv.setUint32(icmp + 8, seq);
    dv.setUint16(icmp + 2, internetChecksum(f, icmp, 8 + 32));
    this.ws.send(f, { binary: true });
  }

  private onFrame(f: Uint8Array): void {
    for (const r of this.responder.handle(f)) if (r[12] === 0x08 && r[13] === 0x06) this.ws.send(r, { binary: true }); // ARP replies only
    if (f.length < 14 + 20 + 12 || f[12] !== 0x08 || f[13] !== 0x00 || f[14 + 9] !== 1) return;
    const icmp = 14 + (f[14] & 0x0f) * 4, dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    if (icmp + 12 > f.length || f[icmp] !== 0 || dv.getUint16(icmp + 4) !== this.id) return;
    const seq = dv.getUint32(icmp + 8);
    if (this.replied.has(seq)) this.duplicates++; else this.replied.add(seq);
    for (let i = this.waiters.length - 1; i >= 0; i--) if (this.waiters[i].done()) { this.waiters[i].resolve(); this.waiters.splice(i, 1); }
  }
}
