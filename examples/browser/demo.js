// The demo page: the Debian i386 guest (scripts/fetch-guest.mjs) boots in v86
// with vmdev's virtio-net plugged into v86's PCI bus; its frames go over v86's
// network bus to a Responder in this page. Shown live: the device's, the
// link's and the responder's counters, frames/s, the guest's serial console;
// the capture downloads as a pcap file.
//
// Everything the page knows is on `window.demo` (state, counters, samples), so
// a test can check what it shows against the device itself.
import { V86 } from "/v86/libv86.mjs";
import {
  attachToV86, Responder, PcapWriter,
} from "/dist/browser/vmdev.js";
import { drawPlot } from "./plot.js";

const GUEST_MAC = "52:54:00:12:34:56";
const RESPONDER_MAC = "52:54:00:00:00:02";
const MEMORY = 128 << 20;
/** How often the counters and the plot are refreshed, in ms (display only). */
const REFRESH_MS = 500;

const $ = (id) => document.getElementById(id);
const demo = (window.demo = {
  state: "loading", detail: "", error: null,
  lines: [],
  /** One entry per refresh: {t (s since boot), rx, tx (frames in that interval), rxRate, txRate (frames/s)}. */
  samples: [],
  /** The guest's ping summaries: {label, transmitted, received}. */
  pings: [],
  nic: null, link: null, adapter: null, responder: null, pcap: null, emulator: null,
  /** Where the plot was last drawn on its canvas (CSS pixels). */
  plotArea: null,
});

function setState(state, detail = "") {
  demo.state = state;
  demo.detail = detail;
  document.body.dataset.state = state;
  $("state").textContent = state;
  $("detail").textContent = detail;
}

function fail(err) {
  demo.error = String(err && err.stack ? err.stack : err);
  setState("error", String(err && err.message ? err.message : err));
  console.error(err);
}
window.addEventListener("error", (e) => fail(e.error ?? e.message));
window.addEventListener("unhandledrejection", (e) => fail(e.reason));

/**
 * vmdev's virtio-net in `emulator`, in one call: guest RAM is v86's (sized from
 * the emulator), interrupts drive v86's PCI line, frames go over v86's network
 * bus as `net0` (v86's UI events fire for them), `tap` sees each one.
 */
async function attachNic(emulator, { mac, tap }) {
  const attached = await attachToV86(emulator, { nic: "virtio", mac, name: "net0", tap });
  return { nic: attached.device, link: attached.link, adapter: attached.adapter };
}

/** A host on v86's network bus: what the guest sends as net0 is answered by `responder`. */
function answerOnBus(emulator, responder) {
  emulator.add_listener("net0-send", (frame) => {
    for (const reply of responder.handle(new Uint8Array(frame))) emulator.bus.send("net0-receive", reply);
  });
}

// ---- display ----

const num = (c) => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, Number(v)]));

/** What the tables show, read from the objects themselves. */
function readCounters() {
  return {
    nic: num(demo.nic.counters()),
    link: demo.link.counters(),
    responder: demo.responder.counters(),
  };
}

/** One row per counter: its name and a value cell marked `data-counter="<prefix>.<name>"`. */
function renderList(id, prefix, values) {
  const list = $(id);
  for (const [name, value] of Object.entries(values)) {
    let row = list.querySelector(`[data-name="${name}"]`);
    if (!row) {
      row = document.createElement("div");
      row.className = "row";
      row.dataset.name = name;
      const label = document.createElement("span");
      label.textContent = name;
      const cell = document.createElement("span");
      cell.dataset.counter = `${prefix}.${name}`;
      row.append(label, cell);
      list.append(row);
    }
    row.lastChild.textContent = String(value);
    row.classList.toggle("zero", value === 0);
  }
}

let bootTime = 0;
let last = { t: 0, rx: 0, tx: 0 };

/** Take a sample and redraw: counters, plot, pcap size. */
function refresh() {
  const c = readCounters();
  renderList("counters-nic", "nic", c.nic);
  renderList("counters-link", "link", c.link);
  renderList("counters-responder", "responder", c.responder);
  const t = (performance.now() - bootTime) / 1000;
  const dt = t - last.t;
  if (dt > 0) {
    const rx = c.nic.rxFrames - last.rx, tx = c.nic.txFrames - last.tx;
    demo.samples.push({ t, rx, tx, rxRate: rx / dt, txRate: tx / dt });
    last = { t, rx: c.nic.rxFrames, tx: c.nic.txFrames };
  }
  demo.plotArea = drawPlot($("plot"), [
    { label: "rx (host → guest)", color: "#1f77b4", width: 3, points: demo.samples.map((s) => [s.t, s.rxRate]) },
    { label: "tx (guest → host)", color: "#d2691e", dash: [6, 4], points: demo.samples.map((s) => [s.t, s.txRate]) },
  ], { xLabel: "time since boot (s)", yLabel: "frames/s", window: 60 });
  const p = demo.pcap.counters();
  $("pcap-info").textContent = `${p.frames} frames, ${p.bytes} bytes captured${p.dropped ? `, ${p.dropped} dropped` : ""}`;
}

// ---- the guest's console ----

const PING_SUMMARY = /^VMDEV-(PING\d) (\d+) packets transmitted, (\d+) packets received/;

function pingTotals() {
  return { sent: demo.pings.reduce((a, p) => a + p.transmitted, 0), got: demo.pings.reduce((a, p) => a + p.received, 0) };
}

function onLine(line) {
  demo.lines.push(line);
  const pre = $("console");
  pre.textContent += line + "\n";
  if (pre.textContent.length > 200_000) pre.textContent = pre.textContent.slice(-100_000);
  pre.scrollTop = pre.scrollHeight;
  const m = PING_SUMMARY.exec(line);
  if (m) {
    demo.pings.push({ label: m[1], transmitted: Number(m[2]), received: Number(m[3]) });
    const { sent, got } = pingTotals();
    if (got > 0 && (demo.state === "booting" || demo.state === "ping-ok")) setState("ping-ok", `the guest's pings: ${got}/${sent} answered`);
  }
  if (line.startsWith("VMDEV-INIT done")) void finish();
}

/** The guest is done: stop the CPU, hand the last replies to the device, show the final counters. */
async function finish() {
  await demo.emulator.stop();
  demo.link.drain();
  clearInterval(timer);
  refresh();
  $("pause").disabled = true;
  const { sent, got } = pingTotals();
  setState("finished", `the guest's pings: ${got}/${sent} answered; emulator stopped`);
}

// ---- start ----

let timer = 0;

async function main() {
  setState("loading", "guest files and wasm");
  const meta = await (await fetch("/guest/guest.json")).json();
  demo.responder = new Responder({ mac: RESPONDER_MAC, ip: meta.guest.responderIp });
  demo.pcap = PcapWriter.memory({ maxBufferedBytes: 32 << 20 });

  const emulator = new V86({
    wasm_path: "/v86/v86.wasm",
    bios: { url: "/guest/bios.bin" },
    bzimage: { url: "/guest/vmlinuz" },
    initrd: { url: "/guest/initramfs.cpio" },
    // cryptomgr.notests: the kernel's crypto self-tests are over half of the boot's instructions.
    cmdline: "console=ttyS0 loglevel=6 tsc=reliable mitigations=off random.trust_cpu=on cryptomgr.notests",
    memory_size: MEMORY,
    vga_memory_size: 2 << 20,
    net_device: { type: "none" },
    autostart: false,
    disable_keyboard: true,
    disable_mouse: true,
    disable_speaker: true,
  });
  demo.emulator = emulator;
  let partial = "";
  emulator.add_listener("serial0-output-byte", (byte) => {
    if (byte === 10) { onLine(partial); partial = ""; }
    else if (byte !== 13) partial += String.fromCharCode(byte);
  });
  answerOnBus(emulator, demo.responder);

  const { nic, link, adapter } = await attachNic(emulator, { mac: GUEST_MAC, tap: demo.pcap.tap });
  Object.assign(demo, { nic, link, adapter });
  $("nic-info").textContent = `Guest eth0: ${GUEST_MAC}, ${meta.guest.ip}/${meta.guest.prefix} (virtio-net at PCI 00:${(adapter.pciId >> 3).toString(16).padStart(2, "0")}.0)` +
    ` · responder: ${RESPONDER_MAC}, ${meta.guest.responderIp}`;

  $("pcap").disabled = false;
  $("pcap").onclick = () => {
    const url = URL.createObjectURL(new Blob([demo.pcap.bytes()], { type: "application/vnd.tcpdump.pcap" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = "vmdev-demo.pcap";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  $("pause").disabled = false;
  $("pause").onclick = async () => {
    if (emulator.is_running()) { await emulator.stop(); $("pause").textContent = "Resume"; }
    else { await emulator.run(); $("pause").textContent = "Pause"; }
  };

  bootTime = performance.now();
  setState("booting", "SeaBIOS, Linux, virtio_net; then the guest pings the responder");
  timer = setInterval(refresh, REFRESH_MS);
  refresh();
  await emulator.run();
}

main().catch(fail);
