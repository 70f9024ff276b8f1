// The demo page (examples/browser/) as a user opens it: `node
// examples/browser/serve.mjs` serves it, headless Chromium loads it, the
// Debian guest boots in v86 with vmdev's virtio-net and pings the page's
// responder. The test waits on the page's own state (window.demo), then checks
// that the counters the page shows are the device's, that the frames/s samples
// add up to them, and that the downloaded pcap holds every frame (read back
// with tcpdump). A screenshot goes to $VMDEV_SCREENSHOT (default: a temp file).
// Needs Debian's chromium and the guest (.cache/guest); CI sets
// VMDEV_REQUIRE_BROWSER and VMDEV_REQUIRE_GUEST so either missing fails instead of skipping.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { chromiumAvailable, launchChromium } from "../support/chromium.js";
import { guestFiles } from "../support/v86-guest.js";
import { haveTool } from "../support/firmware-tools.js";

const haveChromium = chromiumAvailable("demo page test");
const files = haveChromium ? guestFiles() : "no Chromium";
if (typeof files === "string" && haveChromium) console.warn(`demo page test skipped: ${files}`);
const tcpdump = haveTool("tcpdump", "tcpdump");

const serveScript = fileURLToPath(new URL("../../examples/browser/serve.mjs", import.meta.url));

/** Start `node examples/browser/serve.mjs --port 0` and read the URL it prints. */
function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [serveScript, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (b) => {
      out += b;
      const m = /^vmdev demo: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.stderr!.on("data", (b) => { err += b; });
    child.on("exit", (code) => reject(new Error(`serve.mjs exited (${code}) before printing its URL: ${err.trim()}`)));
  });
}

function stopServer(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((r) => { child.once("exit", () => r()); child.kill("SIGTERM"); });
}

describe("examples/browser/serve.mjs", () => {
  let server: { child: ChildProcess; url: string } | undefined;
  beforeAll(async () => { server = await startServer(); });
  afterAll(() => stopServer(server?.child));

  it("serves the page, the bundle, v86 and the guest, and nothing outside its folders", async () => {
    const get = async (path: string) => { const r = await fetch(new URL(path, server!.url)); await r.arrayBuffer(); return [r.status, r.headers.get("content-type")]; };
    expect(await get("/")).toEqual([200, "text/html; charset=utf-8"]);
    expect(await get("/demo.js")).toEqual([200, "text/javascript"]);
    expect(await get("/dist/browser/vmdev.js")).toEqual([200, "text/javascript"]);
    expect(await get("/dist/browser/vmdev.unshared.wasm")).toEqual([200, "application/wasm"]);
    expect(await get("/build/vmdev.wasm")).toEqual([200, "application/wasm"]);
    expect(await get("/v86/libv86.mjs")).toEqual([200, "text/javascript"]);
    expect((await get("/no-such-file.js"))[0]).toBe(404);
    // Escapes: encoded dot segments, an encoded slash, a NUL; the URL parser folds plain "..".
    for (const p of ["/%2e%2e/package.json", "/guest/%2e%2e/%2e%2e/package.json", "/v86/..%2f..%2fpackage.json", "/%00", "/dist/browser/"]) {
      expect((await get(p))[0], p).toBe(404);
    }
  });
});

type Counters = Record<string, Record<string, number>>;

describe.runIf(haveChromium && typeof files !== "string")("the demo page in Chromium", () => {
  let server: { child: ChildProcess; url: string } | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  const logs: string[] = [];

  beforeAll(async () => {
    server = await startServer();
    browser = await launchChromium([
      // A busy machine must not slow the page's timers down further.
      "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    await stopServer(server?.child);
  });

  /** The page's state, for failure messages. */
  const pageState = async () => page!.evaluate(() => {
    const d = (window as unknown as { demo: { state: string; detail: string; error: string | null; lines: string[] } }).demo;
    return `state ${d.state} (${d.detail}) ${d.error ?? ""}\nlast console lines:\n${d.lines.slice(-20).join("\n")}`;
  }).catch((e) => String(e));

  /** Wait until window.demo.state is one of `states` (or "error", which fails); the limit is a watchdog. */
  async function waitForState(states: string[], ms: number): Promise<void> {
    try {
      await page!.waitForFunction((s) => {
        const d = (window as unknown as { demo?: { state: string } }).demo;
        return !!d && (s.includes(d.state) || d.state === "error");
      }, states, { timeout: ms, polling: 250 });
    } catch (e) {
      throw new Error(`page did not reach ${states.join("/")}: ${(e as Error).message}\n${await pageState()}\nbrowser console:\n${logs.slice(-20).join("\n")}`);
    }
    const state = await page!.evaluate(() => (window as unknown as { demo: { state: string } }).demo.state);
    if (state === "error") throw new Error(`the page failed:\n${await pageState()}\nbrowser console:\n${logs.slice(-20).join("\n")}`);
  }

  it("boots the guest, whose pings the page's responder answers; the counters shown are the device's, and the pcap holds every frame", async () => {
    page = await browser!.newPage({ viewport: { width: 1200, height: 1000 }, acceptDownloads: true });
    page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
    await page.goto(server!.url);

    // Watchdogs only: a quiet machine answers the first ping about 90 s after load and finishes 20 s later.
    await waitForState(["ping-ok", "finished"], 600_000);
    await waitForState(["finished"], 300_000);

    const shown = await page.evaluate(() => {
      const out: Record<string, Record<string, number>> = {};
      for (const cell of Array.from(document.querySelectorAll<HTMLElement>("[data-counter]"))) {
        const [table, name] = cell.dataset.counter!.split(".");
        (out[table] ??= {})[name] = Number(cell.textContent);
      }
      return out;
    });
    const truth = await page.evaluate(() => {
      type Demo = {
        nic: { counters(): Record<string, bigint> }; link: { counters(): Record<string, number>; pendingFrames: number };
        responder: { counters(): Record<string, number> }; pcap: { counters(): Record<string, number> };
        samples: Array<{ rx: number; tx: number }>; pings: Array<{ label: string; transmitted: number; received: number }>;
        emulator: { is_running(): boolean };
      };
      const d = (window as unknown as { demo: Demo }).demo;
      return {
        nic: Object.fromEntries(Object.entries(d.nic.counters()).map(([k, v]) => [k, Number(v)])),
        link: d.link.counters(), responder: d.responder.counters(), pcap: d.pcap.counters(),
        sampled: d.samples.reduce((a, s) => ({ rx: a.rx + s.rx, tx: a.tx + s.tx }), { rx: 0, tx: 0 }),
        samples: d.samples.length, pings: d.pings, running: d.emulator.is_running(), pending: d.link.pendingFrames,
      };
    });

    // The plot shows the traffic: pixels of the rx line's colour above its zero line, inside the plot area.
    const plotted = await page.evaluate(() => {
      const d = (window as unknown as { demo: { plotArea: { left: number; top: number; width: number; height: number } } }).demo;
      const canvas = document.getElementById("plot") as HTMLCanvasElement;
      const scale = canvas.width / canvas.clientWidth;
      const a = d.plotArea;
      const img = canvas.getContext("2d")!.getImageData(Math.round(a.left * scale), Math.round(a.top * scale), Math.round(a.width * scale), Math.round((a.height - 4) * scale));
      let rx = 0;
      for (let i = 0; i < img.data.length; i += 4) {
        const [r, g, b] = [img.data[i], img.data[i + 1], img.data[i + 2]];
        if (Math.abs(r - 0x1f) < 24 && Math.abs(g - 0x77) < 24 && Math.abs(b - 0xb4) < 24) rx++;
      }
      return rx;
    });
    expect(plotted).toBeGreaterThan(20);

    const shot = process.env.VMDEV_SCREENSHOT || join(mkdtempSync(join(tmpdir(), "vmdev-demo-")), "demo-page.png");
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`demo page screenshot: ${shot}`);
    console.log(`device ${JSON.stringify(Object.fromEntries(Object.entries(truth.nic).filter(([, v]) => v)))}; link ${JSON.stringify(truth.link)}; ` +
      `responder ${JSON.stringify(truth.responder)}; pcap ${JSON.stringify(truth.pcap)}; ${truth.samples} samples`);

    // The guest's own view: every ping of its /init answered (20 + 3 × 100).
    expect(truth.pings).toEqual([
      { label: "PING1", transmitted: 20, received: 20 }, { label: "PING2", transmitted: 100, received: 100 },
      { label: "PING3", transmitted: 100, received: 100 }, { label: "PING4", transmitted: 100, received: 100 },
    ]);
    expect(truth.running).toBe(false);
    expect(truth.pending).toBe(0);

    // What the page shows is what the objects say, table by table and counter by counter.
    const asShown: Counters = { nic: truth.nic, link: truth.link, responder: truth.responder };
    expect(shown).toEqual(asShown);
    expect(Object.keys(shown.nic).length).toBeGreaterThan(10);
    // And those agree with each other: every frame the guest sent crossed the link, every reply went in.
    expect(truth.nic.txFrames).toBeGreaterThan(0);
    expect(truth.nic.rxFrames).toBeGreaterThan(0);
    expect(truth.link.txFrames).toBe(truth.nic.txFrames);
    expect(truth.link.rxFrames).toBe(truth.nic.rxFrames);
    expect(truth.link.txBytes).toBe(truth.nic.txBytes);
    expect(truth.link.rxBytes).toBe(truth.nic.rxBytes);
    expect(truth.link.rxDropped).toBe(0);
    expect(truth.responder.frames).toBe(truth.nic.txFrames);
    expect(truth.responder.icmpEchoRequests).toBe(320);
    expect(truth.responder.icmpEchoReplies).toBe(320);
    expect(truth.responder.malformed).toBe(0);
    for (const k of ["badAccess", "txMalformed", "rxDropped", "needsReset"]) expect(truth.nic[k], k).toBe(0);
    // The frames/s plot is drawn from samples whose frame counts add up to the counters.
    expect(truth.sampled).toEqual({ rx: truth.nic.rxFrames, tx: truth.nic.txFrames });
    expect(truth.pcap.frames).toBe(truth.nic.txFrames + truth.nic.rxFrames);
    expect(truth.pcap.dropped).toBe(0);

    // The download button hands over the capture as a pcap file.
    const [download] = await Promise.all([page.waitForEvent("download", { timeout: 60_000 }), page.click("#pcap")]);
    expect(download.suggestedFilename()).toBe("vmdev-demo.pcap");
    const pcapPath = join(mkdtempSync(join(tmpdir(), "vmdev-demo-pcap-")), "vmdev-demo.pcap");
    await download.saveAs(pcapPath);
    const bytes = readFileSync(pcapPath);
    expect(statSync(pcapPath).size).toBe(truth.pcap.bytes);
    expect(bytes.readUInt32LE(0)).toBe(0xa1b2c3d4);
    expect(bytes.readUInt32LE(20)).toBe(1); // LINKTYPE_ETHERNET
    if (tcpdump) {
      const r = spawnSync("tcpdump", ["-r", pcapPath, "-nn", "-tt", "-e"], { encoding: "utf8", maxBuffer: 64 << 20 });
      expect(r.status, r.stderr).toBe(0);
      const frames = r.stdout.split("\n").filter((l) => /^\d+\.\d+ /.test(l));
      expect(frames.length).toBe(truth.pcap.frames);
      expect(frames.filter((l) => /ICMP echo request/.test(l)).length).toBe(320);
      expect(frames.filter((l) => /ICMP echo reply/.test(l)).length).toBe(320);
      expect(frames.filter((l) => /52:54:00:12:34:56 > 52:54:00:00:00:02, .*ICMP echo request/.test(l)).length).toBe(320);
      expect(frames.filter((l) => /ARP.*: Reply \S+ is-at /.test(l)).length).toBe(truth.responder.arpReplies);
    }
  }, 960_000);
});
