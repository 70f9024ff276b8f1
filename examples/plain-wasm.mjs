// vmdev.wasm with nothing but WebAssembly.instantiate: no loader, no vmdev
// TypeScript. The host supplies the imports by hand (docs/abi.md, "Imports"),
// makes guest RAM, plugs in a virtio-net on virtio-pci and plays the guest's
// driver (virtio 1.2 §4.1 and §5.1: capability walk, feature negotiation,
// split virtqueues written straight into guest RAM), receives one frame,
// transmits one, and harvests the dirty bitmap.
//
//   node examples/plain-wasm.mjs            (after `npm run build`)
//
// In a project that depends on vmdev, read the files as
// `vmdev/wasm/vmdev.wasm` and `vmdev/abi.json` instead.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const wasmUrl = new URL("../build/vmdev.wasm", import.meta.url);
const abiUrl = new URL("../build/vmdev.abi.json", import.meta.url);

/** Run the whole exchange; returns what it saw (the test checks it), throws on any step that fails. */
export async function run() {
  const abi = JSON.parse(readFileSync(abiUrl, "utf8"));
  const constant = (name) => {
    const c = abi.constants.find((x) => x.name === name);
    if (!c) throw new Error(`abi.json has no ${name}`);
    return Number(c.value);
  };
  const statusName = Object.fromEntries(abi.status.map((s) => [s.value, s.name]));
  const ok = (what, s) => { if (s !== 0) throw new Error(`${what}: ${statusName[s < 0 ? -s : s] ?? s}`); return s; };
  const handle = (what, h) => { if (h < 0) throw new Error(`${what}: ${statusName[-h] ?? h}`); return h; };

  // --- Imports (docs/abi.md "Imports"): the release build imports a shared memory.
  const mem = abi.imports.find((i) => i.kind === "memory");
  const memory = new WebAssembly.Memory({ initial: mem.initial, maximum: mem.maximum, shared: mem.shared });
  const u8 = () => new Uint8Array(memory.buffer); // re-made after calls that may grow memory
  const utf16 = (ptr) => {
    if (!ptr) return "";
    const len = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
    return String.fromCharCode(...new Uint16Array(memory.buffer.slice(ptr, ptr + len)));
  };
  const env = {
    memory,
    // Guest RAM lives in vmdev's own memory here, so the foreign-RAM accessors are never used: refuse.
    guest_read: () => 1,
    guest_write: () => 1,
    guest_written: () => {},
    abort: (msg, file, line, col) => { throw new Error(`vmdev abort: ${utf16(msg)} at ${utf16(file)}:${line}:${col}`); },
  };
  const { instance } = await WebAssembly.instantiate(readFileSync(wasmUrl), { env });
  const x = instance.exports;

  const version = x.abi_version() >>> 0;
  if (version >>> 16 !== Number(abi.abiVersion.split(".")[0])) throw new Error(`ABI ${version >>> 16}.x, this host was written for ${abi.abiVersion}`);

  // --- Guest RAM: 1 MiB in vmdev's memory (GPA = offset from gm_ram_ptr()).
  const PAGE = constant("CoreDefs.PAGE_SIZE");
  const ramPages = 256;
  ok("vm_init", x.vm_init(ramPages, 0));
  const ram = x.gm_ram_ptr() >>> 0;
  const guest = (gpa, len) => u8().subarray(ram + gpa, ram + gpa + len);
  const gview = () => new DataView(memory.buffer, ram, ramPages * PAGE);

  // --- A virtio-net on virtio-pci: MAC 52:54:00:12:34:56, 1 queue pair, MTU 1500, queues up to 256, backlog 16.
  const mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
  const h = handle("vnet_create", x.vnet_create(constant("VirtioDefs.TRANSPORT_PCI"), 0x5254, 0x00123456, 1, 1500, 256, 16));

  // --- The guest's driver. PCI configuration space first (PCI 3.0 §6.1, §6.7).
  const cfg = (off, w) => x.vpci_cfg_read(h, off, w) >>> 0;
  const vendor = cfg(0, 2), device = cfg(2, 2);
  if (vendor !== 0x1af4 || device !== 0x1041) throw new Error(`not a virtio-net: ${vendor.toString(16)}:${device.toString(16)}`);
  x.vpci_cfg_write(h, 0x04, 2, 0x0006); // memory space + bus master
  // Walk the capability list for the virtio structures (virtio 1.2 §4.1.4).
  const caps = {};
  for (let p = cfg(0x34, 1); p !== 0; p = cfg(p + 1, 1)) {
    if (cfg(p, 1) !== 0x09) continue; // vendor-specific
    const type = cfg(p + 3, 1);
    caps[type] = { bar: cfg(p + 4, 1), offset: cfg(p + 8, 4), length: cfg(p + 12, 4), at: p };
  }
  const COMMON = 1, NOTIFY = 2, ISR = 3;
  for (const t of [COMMON, NOTIFY, ISR]) if (!caps[t]) throw new Error(`virtio capability ${t} missing`);
  const notifyMult = cfg(caps[NOTIFY].at + 16, 4);
  const common = caps[COMMON];
  const cr = (off, w) => x.vpci_bar_read(h, common.bar, common.offset + off, w) >>> 0;
  const cw = (off, w, v) => x.vpci_bar_write(h, common.bar, common.offset + off, w, v);
  const cw64 = (off, v) => { cw(off, 4, v >>> 0); cw(off + 4, 4, Math.floor(v / 2 ** 32)); };

  // Device initialisation (virtio 1.2 §3.1.1): reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK.
  const S_ACK = 1, S_DRIVER = 2, S_DRIVER_OK = 4, S_FEATURES_OK = 8;
  cw(20, 1, 0);
  cw(20, 1, S_ACK | S_DRIVER);
  cw(0, 4, 1); // device_feature_select: bits 32..63
  if ((cr(4, 4) & 1) === 0) throw new Error("device does not offer VIRTIO_F_VERSION_1");
  cw(8, 4, 0); cw(12, 4, 0); // driver features 0..31: none
  cw(8, 4, 1); cw(12, 4, 1); // driver features 32..63: VERSION_1
  cw(20, 1, S_ACK | S_DRIVER | S_FEATURES_OK);
  if ((cr(20, 1) & S_FEATURES_OK) === 0) throw new Error("device refused the features");

  // Two split virtqueues (§2.7): 0 = receiveq1, 1 = transmitq1; each part in its own page.
  const QSIZE = 8, NET_HDR = constant("VirtioNetDefs.NET_HDR");
  const layout = {
    0: { desc: 0x10000, avail: 0x11000, used: 0x12000, buf: 0x20000 },
    1: { desc: 0x13000, avail: 0x14000, used: 0x15000, buf: 0x21000 },
  };
  const notifyOff = {};
  for (const q of [0, 1]) {
    const l = layout[q];
    cw(22, 2, q); // queue_select
    if (cr(24, 2) < QSIZE) throw new Error(`queue ${q} is smaller than ${QSIZE}`);
    cw(24, 2, QSIZE);
    cw64(32, l.desc); cw64(40, l.avail); cw64(48, l.used);
    notifyOff[q] = cr(30, 2);
    cw(28, 2, 1); // queue_enable
  }
  cw(20, 1, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
  const kick = (q) => x.vpci_bar_write(h, caps[NOTIFY].bar, caps[NOTIFY].offset + notifyOff[q] * notifyMult, 2, q);

  // Post one descriptor on queue q and kick: the guest writes its own RAM directly.
  const post = (q, len, writable) => {
    const l = layout[q], v = gview();
    v.setBigUint64(l.desc, BigInt(l.buf), true);
    v.setUint32(l.desc + 8, len, true);
    v.setUint16(l.desc + 12, writable ? 2 : 0, true); // VIRTQ_DESC_F_WRITE
    v.setUint16(l.avail + 4, 0, true);                // ring[0] = descriptor 0
    v.setUint16(l.avail + 2, 1, true);                // avail idx
    kick(q);
  };
  const used = (q) => { const v = gview(), l = layout[q]; return { idx: v.getUint16(l.used + 2, true), id: v.getUint32(l.used + 4, true), len: v.getUint32(l.used + 8, true) }; };

  // --- Dirty tracking from here on: start clean.
  const BITMAP = constant("CoreDefs.GUEST_BITMAP");
  ok("dirty_enable", x.dirty_enable(BITMAP, 1));
  const harvest = () => {
    const pages = [];
    const CAP = 64;
    for (let word = 0; ;) {
      const n = handle("dirty_harvest_ranges", x.dirty_harvest_ranges(BITMAP, word, 0, CAP));
      const io = new DataView(memory.buffer, x.io_ptr() >>> 0, CAP * 8);
      for (let i = 0; i < n; i++) for (let k = 0; k < io.getUint32(i * 8 + 4, true); k++) pages.push(io.getUint32(i * 8, true) + k);
      word = x.dirty_cursor() >>> 0;
      if (word >= (x.dirty_words(BITMAP) >>> 0)) return pages;
    }
  };
  harvest();

  // --- Receive: the guest posts a buffer, the host hands the device a frame through the I/O buffer.
  post(0, NET_HDR + 1514, true);
  const rxFrame = new Uint8Array(64);
  rxFrame.set(mac, 0);
  rxFrame.set([0x02, 0, 0, 0, 0, 0x01], 6);
  rxFrame.set([0x88, 0xb5], 12);
  for (let i = 14; i < rxFrame.length; i++) rxFrame[i] = i;
  u8().set(rxFrame, x.io_ptr() >>> 0); // the "net frame" window, [0, len)
  ok("vnet_receive", x.vnet_receive(h, 0, rxFrame.length));
  const rxUsed = used(0);
  if (rxUsed.idx !== 1 || rxUsed.len !== NET_HDR + rxFrame.length) throw new Error(`RX used ring: ${JSON.stringify(rxUsed)}`);
  const received = guest(layout[0].buf + NET_HDR, rxFrame.length).slice();
  if (received.some((b, i) => b !== rxFrame[i])) throw new Error("RX buffer does not hold the frame");
  const intx = x.vnet_intx(h); // no MSI-X enabled: the INTx line signals the used buffer
  const isr = x.vpci_bar_read(h, caps[ISR].bar, caps[ISR].offset, 1) >>> 0; // reading ISR acknowledges (§4.1.4.5)

  // A write through the guest-memory port, as a device model would make.
  const portPage = 0x30;
  ok("gm_write", x.gm_write(BigInt(portPage * PAGE + 8), 8, 0x0123456789abcdefn));
  ok("gm_read", x.gm_read(BigInt(portPage * PAGE + 8), 8));
  const readBack = x.gm_value();
  const dirtyPages = harvest();

  // --- Transmit: the guest queues header + frame in one readable descriptor and kicks.
  const txFrame = new Uint8Array(60);
  txFrame.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
  txFrame.set(mac, 6);
  txFrame.set([0x88, 0xb5], 12);
  txFrame.fill(0xa5, 14);
  guest(layout[1].buf, NET_HDR).fill(0); // virtio_net_hdr: no offloads
  guest(layout[1].buf + NET_HDR, txFrame.length).set(txFrame);
  post(1, NET_HDR + txFrame.length, false);
  const pending = x.vnet_pending(h) >>> 0;
  const txFrames = x.vnet_tx_frames(h);
  if (txFrames !== 1) throw new Error(`outbox holds ${txFrames} frames`);
  const out = x.vnet_tx_ptr(h) >>> 0; // records: u32 length, bytes, padded to 4
  const txLen = new DataView(memory.buffer, out, 4).getUint32(0, true);
  const transmitted = u8().slice(out + 4, out + 4 + txLen);
  ok("vnet_tx_done", x.vnet_tx_done(h));
  const txUsed = used(1);

  // --- Counters, named by abi.json.
  const vnetCounters = abi.counters.find((c) => c.export === "vnet_counters_ptr");
  const counters = new BigUint64Array(memory.buffer, x.vnet_counters_ptr(h) >>> 0, vnetCounters.count);
  const counter = (name) => Number(counters[vnetCounters.entries.find((e) => e.name === name).index]);

  return {
    abiVersion: `${version >>> 16}.${version & 0xffff}`,
    deviceStatus: x.vnet_status(h),
    received: [...received], rxFrame: [...rxFrame], rxUsed, intx, isr,
    transmitted: [...transmitted], txFrame: [...txFrame], txUsed, pendingTx: (pending & constant("VirtioNetDefs.PENDING_TX")) !== 0,
    dirtyPages, expectDirty: [portPage, layout[0].buf / PAGE, layout[0].used / PAGE].sort((a, b) => a - b), readBack,
    counters: { rxFrames: counter("RX_FRAMES"), txFrames: counter("TX_FRAMES"), kicks: counter("KICKS"), badAccess: counter("BAD_ACCESS") },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await run();
  console.log(`vmdev.wasm ABI ${r.abiVersion}: virtio-net received ${r.received.length} bytes into the guest's RX buffer and transmitted ${r.transmitted.length}; ` +
    `dirty pages ${r.dirtyPages.join(", ")}; counters ${JSON.stringify(r.counters)}`);
}
