#!/usr/bin/env node
// Fetches and assembles the Linux guest the v86 end-to-end test boots:
// Debian's i386 `686` kernel, the virtio modules it builds as modules, a static
// busybox, iproute2's `ip` (busybox's has no `maddr`) with exactly the shared
// objects it loads, and SeaBIOS. Result in .cache/guest/ (git-ignored):
//   vmlinuz        the kernel (bzImage)
//   initramfs.cpio newc archive: /init, busybox, the modules in load order,
//                  /sbin/ip and its loader and libraries at their Debian paths
//   bios.bin       SeaBIOS
//   guest.json     versions, the module load order, the userland files
// With `vmdev.mode=shell` on the kernel command line the guest's /init sets up
// eth0, prints VMDEV-READY and then runs the commands the host types on the
// serial console, one per line, each followed by "VMDEV-DONE <status>".
// PATH is busybox's /bin only: iproute2 is called by path, `/sbin/ip`.
// Needs apt-get, dpkg-deb and readelf (binutils).
// Exit status: 0 ready; 2 the Debian archive or apt is unavailable (the test
// then skips outside CI); 1 anything else.
//
// Usage: node scripts/fetch-guest.mjs [--force]

import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync, statSync } from "node:fs";
import { dirname, join, posix, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, ".cache", "guest");
const debs = join(out, "debs");
const tree = join(out, "tree");
/** Bumped whenever the archive layout or /init changes, so stale caches rebuild. */
export const RECIPE = 12;

/**
 * The NIC drivers the guest loads, with what they need when the kernel has it
 * as modules (=m in Debian's 686 config): virtio_net, ne2k_pci (with 8390)
 * for the RTL8029, e1000 for the 82540EM, and 8021q for VLAN interfaces. A
 * driver with no device of its own binds nothing.
 */
const WANTED = ["virtio_net", "ne2k_pci", "e1000", "8021q"];

/**
 * Dynamically linked programs beyond busybox: `pkg`'s file `from`, installed
 * as `to`, with the ELF loader and every shared object it loads (the closure
 * of DT_NEEDED), resolved through the Debian i386 packages' Depends.
 */
const USERLAND = [{ pkg: "iproute2:i386", from: "bin/ip", to: "sbin/ip" }];

/** Where the i386 loader looks without an ld.so.cache: Debian's multiarch directories, then the classic ones. */
const LIB_DIRS = ["lib/i386-linux-gnu", "usr/lib/i386-linux-gnu", "lib", "usr/lib"];

/** Guest network addressing the test and /init agree on. */
export const GUEST = { ip: "10.0.2.15", responderIp: "10.0.2.2", prefix: 24 };

/** Write a new file in place of `path` (rename: a copy of the cache linked elsewhere keeps its contents). */
function writeNew(path, data) {
  writeFileSync(`${path}.new`, data);
  renameSync(`${path}.new`, path);
}

function log(msg) { process.stderr.write(`fetch-guest: ${msg}\n`); }

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts });
}

class Unavailable extends Error {}

function aptReady() {
  try { run("apt-get", ["--version"]); } catch { throw new Unavailable("apt-get not found"); }
  try { run("readelf", ["--version"]); } catch { throw new Unavailable("readelf not found (install binutils)"); }
  const arches = (() => { try { return run("dpkg", ["--print-foreign-architectures"]).split(/\s+/); } catch { return []; } })();
  const native = (() => { try { return run("dpkg", ["--print-architecture"]).trim(); } catch { return ""; } })();
  if (native !== "i386" && !arches.includes("i386")) {
    log("adding the i386 architecture to dpkg");
    try { run("dpkg", ["--add-architecture", "i386"]); } catch (e) { throw new Unavailable(`dpkg --add-architecture i386 failed: ${e.message}`); }
  }
  const hasLists = () => { try { return run("apt-cache", ["policy", "busybox-static:i386"]).includes("Candidate:") && !run("apt-cache", ["policy", "busybox-static:i386"]).includes("Candidate: (none)"); } catch { return false; } };
  if (!hasLists()) {
    log("apt-get update");
    try { run("apt-get", ["update"], { timeout: 180_000 }); } catch (e) { log(`apt-get update reported: ${String(e.stderr ?? e.message).split("\n").slice(-3).join(" ")}`); }
    if (!hasLists()) throw new Unavailable("the Debian archive has no i386 package lists (apt-get update failed?)");
  }
}

/** Newest `linux-image-<abi>-686-unsigned` (same kernel as the signed package, no signing shim deps). */
function kernelPackage() {
  const lines = run("apt-cache", ["search", "--names-only", "^linux-image-[0-9.]+-[0-9]+-686-unsigned$"]).split("\n");
  const names = lines.map((l) => l.split(" ")[0]).filter(Boolean);
  if (names.length === 0) throw new Unavailable("no linux-image-*-686-unsigned package in the archive");
  const abi = (n) => n.match(/^linux-image-([0-9.]+)-([0-9]+)-686/).slice(1).map(Number);
  names.sort((a, b) => {
    const [va, ra] = abi(a), [vb, rb] = abi(b);
    return va !== vb ? va - vb : ra - rb;
  });
  return names[names.length - 1];
}

/** `apt-get download` each package not in the cache yet; returns each one's .deb path. */
function download(pkgs) {
  mkdirSync(debs, { recursive: true });
  const paths = [];
  for (const p of pkgs) {
    const base = p.replace(/:.*/, "");
    const cached = () => readdirSync(debs).find((f) => f.startsWith(`${base}_`) && f.endsWith(".deb"));
    if (!cached()) {
      log(`apt-get download ${p}`);
      try { run("apt-get", ["download", p], { cwd: debs, timeout: 600_000 }); } catch (e) { throw new Unavailable(`apt-get download ${p} failed: ${String(e.stderr ?? e.message).trim().split("\n").pop()}`); }
    }
    const f = cached();
    if (!f) throw new Error(`apt-get download ${p} left no ${base}_*.deb in ${debs}`);
    paths.push(join(debs, f));
  }
  return paths;
}

/** Unpack .deb files into `dir` (emptied first). */
function extract(paths, dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of paths) run("dpkg-deb", ["-x", f, dir]);
}

/** A .deb's version from its file name (`name_version_arch.deb`, with the epoch's ':' as %3a). */
const debVersion = (path) => decodeURIComponent(path.split("/").pop().split("_")[1] ?? "?");

/**
 * The program interpreter and DT_NEEDED entries in `readelf -W -l -d` output
 * (an object without a dynamic section has neither).
 */
export function parseReadelf(text) {
  const interp = text.match(/\[Requesting program interpreter: ([^\]]+)\]/)?.[1] ?? null;
  const needed = [...text.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  return { interp, needed };
}

/** A package's Depends that are shared-library packages of the same architecture (Multi-Arch: same). */
const libraryDepends = memo((pkg) => {
  const deps = run("apt-cache", ["depends", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", pkg])
    .split("\n").map((l) => l.match(/^\s*\|?Depends: ([^<\s][^\s]*)$/)?.[1]).filter(Boolean);
  return deps.filter((d) => {
    try { return /^Multi-Arch: same$/m.test(run("apt-cache", ["show", "--no-all-versions", d])); } catch { return false; }
  });
});

function memo(f) {
  const seen = new Map();
  return (k) => { if (!seen.has(k)) seen.set(k, f(k)); return seen.get(k); };
}

/**
 * One program of USERLAND with everything the loader maps for it: downloads
 * `spec.pkg`, then (bounded rounds) the library Depends of every package whose
 * object names a shared object not found yet, until the DT_NEEDED closure is
 * complete. Each package is unpacked into its own directory so every object's
 * package is known. Returns the archive files: {name, source, mode, pkg}, and
 * for a path that resolves to an object already listed (the loader's PT_INTERP
 * path and its soname), a symlink to it; and the packages that supplied them.
 */
function userland(spec, dir) {
  const roots = new Map(); // package → unpacked root
  const add = (pkg) => {
    const [deb] = download([pkg]);
    const root = join(dir, pkg.replace(/:.*/, ""));
    extract([deb], root);
    roots.set(pkg, { root, version: debVersion(deb) });
  };
  /** The package and file a path names in the unpacked packages, following symlinks (an absolute target is read inside the packages too). */
  const lookup = (rel, hops = 0) => {
    // Bounded: a chain of at most 16 links.
    if (hops > 16) return null;
    for (const [pkg, { root }] of roots) {
      const p = join(root, rel);
      let st;
      try { st = lstatSync(p); } catch { continue; }
      if (st.isSymbolicLink()) {
        const t = readlinkSync(p);
        return lookup(t.startsWith("/") ? t.slice(1) : posix.normalize(posix.join(posix.dirname(rel), t)), hops + 1);
      }
      if (st.isFile()) return { pkg, file: p, mode: st.mode & 0o777 };
    }
    return null;
  };
  add(spec.pkg);
  // Bounded: each round adds at least one package, or ends.
  for (let round = 0; round < 32; round++) {
    const files = [];
    const bySource = new Map();
    const missing = [];
    const queue = [{ name: spec.to, hit: lookup(spec.from) }];
    if (!queue[0].hit) throw new Error(`${spec.pkg} has no ${spec.from}`);
    const listed = new Set();
    while (queue.length > 0) {
      const { name, hit } = queue.shift();
      if (listed.has(name)) continue;
      listed.add(name);
      const first = bySource.get(hit.file);
      if (first) { files.push({ name, type: "symlink", target: `/${first}` }); continue; }
      bySource.set(hit.file, name);
      files.push({ name, type: "file", source: hit.file, mode: hit.mode, pkg: hit.pkg });
      const { interp, needed } = parseReadelf(run("readelf", ["-W", "-l", "-d", hit.file]));
      // The loader by its PT_INTERP path; each DT_NEEDED soname in the first directory of the search path that has it.
      const paths = [...(interp ? [[interp.slice(1)]] : []), ...needed.map((so) => LIB_DIRS.map((d) => `${d}/${so}`))];
      for (const candidates of paths) {
        const found = candidates.map((n) => ({ name: n, hit: lookup(n) })).find((x) => x.hit);
        if (found) queue.push(found);
        else missing.push({ what: candidates.length === 1 ? `/${candidates[0]}` : candidates[0].split("/").pop(), by: hit.pkg, in: name });
      }
    }
    if (missing.length === 0) {
      const used = new Set(files.map((f) => f.pkg).filter(Boolean));
      return { files, packages: Object.fromEntries([...roots].filter(([p]) => used.has(p)).map(([p, { version }]) => [p, version])) };
    }
    const next = new Set();
    for (const m of missing) for (const d of libraryDepends(m.by)) if (!roots.has(d) && !roots.has(`${d}:i386`)) next.add(d.includes(":") ? d : `${d}:i386`);
    if (next.size === 0) throw new Error(`${missing.map((m) => `${m.what} (needed by /${m.in})`).join(", ")}: in none of ${[...roots.keys()].join(", ")} or their library Depends`);
    for (const p of next) add(p);
  }
  throw new Error(`${spec.pkg}: shared-object closure not complete after 32 rounds`);
}

/** Directory entries for every parent of `names` (the initramfs unpacker creates no missing parents), parents first. */
function parentDirs(names, have) {
  const dirs = new Set();
  for (const n of names) for (let d = posix.dirname(n); d !== "." && !have.has(d); d = posix.dirname(d)) dirs.add(d);
  return [...dirs].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b)).map((name) => ({ name, type: "dir" }));
}

/** `depends=` from a module's .modinfo section (uncompressed .ko: plain NUL-separated strings). */
function moduleDepends(ko) {
  const text = readFileSync(ko).toString("latin1");
  const m = text.match(/\0depends=([^\0]*)\0/) ?? text.match(/^depends=([^\0]*)\0/);
  return m && m[1] ? m[1].split(",").filter(Boolean) : [];
}

function findModules(kdir) {
  const byName = new Map();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ko")) byName.set(e.name.slice(0, -3).replace(/-/g, "_"), p);
    }
  };
  walk(join(kdir, "kernel"));
  return byName;
}

/** Dependency-first load order for `wanted`, skipping what modules.builtin already has. */
function loadOrder(kdir, wanted) {
  const builtin = new Set(readFileSync(join(kdir, "modules.builtin"), "utf8").split("\n")
    .map((l) => l.split("/").pop().replace(/\.ko$/, "").replace(/-/g, "_")).filter(Boolean));
  const mods = findModules(kdir);
  const order = [];
  const seen = new Set();
  const visit = (name, depth) => {
    if (depth > 32) throw new Error(`module dependency loop at ${name}`);
    if (seen.has(name) || builtin.has(name)) return;
    const ko = mods.get(name);
    if (!ko) throw new Error(`module ${name} is neither built in nor shipped`);
    for (const d of moduleDepends(ko)) visit(d.replace(/-/g, "_"), depth + 1);
    seen.add(name);
    order.push({ name, path: ko });
  };
  for (const w of wanted) visit(w, 0);
  // virtio_pci is what binds the PCI function; virtio_net depends only on the bus.
  visit("virtio_pci", 0);
  // Load the transport before the net driver so probe order in the log is obvious.
  const i = order.findIndex((m) => m.name === "virtio_net");
  if (i >= 0) order.push(order.splice(i, 1)[0]);
  return order;
}

// ---- newc cpio writer (the format the kernel's initramfs unpacker reads) ----

function cpioHeader(name, mode, size, ino, nlink = 1) {
  const hex = (n) => (n >>> 0).toString(16).padStart(8, "0");
  const nameBytes = Buffer.from(name + "\0");
  const fields = ["070701", hex(ino), hex(mode), hex(0), hex(0), hex(nlink), hex(0), hex(size),
    hex(0), hex(0), hex(0), hex(0), hex(nameBytes.length), hex(0)].join("");
  const head = Buffer.concat([Buffer.from(fields, "ascii"), nameBytes]);
  return Buffer.concat([head, Buffer.alloc((4 - (head.length % 4)) % 4)]);
}

/** entries: {name, type: "dir"|"file"|"symlink"|"char", data?, target?, mode?, major?, minor?} */
export function cpioNewc(entries) {
  const parts = [];
  let ino = 1;
  for (const e of entries) {
    let mode, data = Buffer.alloc(0);
    if (e.type === "dir") mode = 0o040000 | (e.mode ?? 0o755);
    else if (e.type === "symlink") { mode = 0o120000 | 0o777; data = Buffer.from(e.target); }
    else { mode = 0o100000 | (e.mode ?? 0o644); data = Buffer.from(e.data); }
    parts.push(cpioHeader(e.name, mode, data.length, ino++, e.type === "dir" ? 2 : 1), data,
      Buffer.alloc((4 - (data.length % 4)) % 4));
  }
  parts.push(cpioHeader("TRAILER!!!", 0, 0, 0));
  const all = Buffer.concat(parts);
  return Buffer.concat([all, Buffer.alloc((512 - (all.length % 512)) % 512)]);
}

/** The guest's /init: load modules, configure eth0, exchange traffic, report on the serial console. */
function initScript(order) {
  const insmods = order.map((m) => `insmod /lib/modules/${m.name}.ko || echo "VMDEV insmod ${m.name} failed"`).join("\n");
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev 2>/dev/null
echo "VMDEV-INIT start"
${insmods}
echo "VMDEV-MODULES loaded"
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
dmesg | grep -i -E 'virtio|ne2k|8390|e1000|eth0|00:0c' | sed 's/^/VMDEV-DMESG /'
V=/sys/bus/virtio/devices/virtio0
[ -d $V ] && echo "VMDEV-VIRTIO device=$(cat $V/device) vendor=$(cat $V/vendor) status=$(cat $V/status) features=$(cat $V/features)"
echo "VMDEV-DRIVER $(readlink -f /sys/class/net/eth0/device) bound to $(basename "$(readlink /sys/class/net/eth0/device/driver)") via $(basename "$(readlink /sys/class/net/eth0/device/../driver)")"
ip addr add ${GUEST.ip}/${GUEST.prefix} dev eth0
ip link set eth0 up
ip link show eth0 | sed 's/^/VMDEV-IPLINK /'
if grep -q 'vmdev.mode=shell' /proc/cmdline; then
  stty -echo 2>/dev/null
  echo "VMDEV-READY"
  while read -r line; do
    eval "$line"
    echo "VMDEV-DONE $?"
  done
  poweroff -f
fi
ping -c 20 -A -W 3 -w 30 ${GUEST.responderIp} 2>&1 | sed 's/^/VMDEV-PING1 /'
ping -c 100 -A -s 1400 -W 3 -w 30 ${GUEST.responderIp} 2>&1 | tail -3 | sed 's/^/VMDEV-PING2 /'
echo "VMDEV-CHECKPOINT"
sleep 2
ping -c 100 -A -s 1472 -p a5 -W 3 -w 30 ${GUEST.responderIp} 2>&1 | tail -3 | sed 's/^/VMDEV-PING3 /'
ping -c 100 -A -s 8 -W 3 -w 30 ${GUEST.responderIp} 2>&1 | tail -3 | sed 's/^/VMDEV-PING4 /'
cat /sys/class/net/eth0/statistics/rx_packets | sed 's/^/VMDEV-STAT rx_packets /'
cat /sys/class/net/eth0/statistics/tx_packets | sed 's/^/VMDEV-STAT tx_packets /'
grep eth0 /proc/net/dev | sed 's/^/VMDEV-NETDEV /'
grep -i virtio /proc/interrupts | sed 's/^/VMDEV-IRQ /'
dmesg | grep -i -E 'virtio|eth0' | tail -5 | sed 's/^/VMDEV-DMESG2 /'
echo "VMDEV-INIT done"
sync
poweroff -f
while true; do sleep 1000; done
`;
}

async function main() {
  const force = process.argv.includes("--force");
  const stamp = join(out, "guest.json");
  if (!force && existsSync(stamp)) {
    try {
      const s = JSON.parse(readFileSync(stamp, "utf8"));
      if (s.recipe === RECIPE && ["vmlinuz", "initramfs.cpio", "bios.bin"].every((f) => existsSync(join(out, f)))) {
        log(`cached (${s.kernel})`);
        return 0;
      }
    } catch { /* rebuild */ }
  }
  mkdirSync(out, { recursive: true });
  aptReady();
  const kernel = kernelPackage();
  extract(download([kernel, "busybox-static:i386", "seabios"]), tree);

  const kver = readdirSync(join(tree, "lib", "modules"))[0];
  const kdir = join(tree, "lib", "modules", kver);
  const order = loadOrder(kdir, WANTED);
  log(`kernel ${kver}; modules: ${order.map((m) => m.name).join(" ")}`);

  const extra = USERLAND.map((spec) => userland(spec, join(out, "userland")));
  const extraFiles = extra.flatMap((u) => u.files);
  for (const f of extraFiles) if (f.type === "file") log(`userland /${f.name} (${f.pkg}, ${statSync(f.source).size} bytes)`);
  const baseDirs = ["bin", "dev", "proc", "sys", "lib", "lib/modules", "tmp"];
  const entries = [
    ...baseDirs.map((name) => ({ name, type: "dir" })),
    ...parentDirs(extraFiles.map((f) => f.name), new Set(baseDirs)),
    ...extraFiles.map((f) => (f.type === "file" ? { name: f.name, type: "file", mode: f.mode, data: readFileSync(f.source) } : f)),
    { name: "bin/busybox", type: "file", mode: 0o755, data: readFileSync(join(tree, "bin", "busybox")) },
    { name: "bin/sh", type: "symlink", target: "busybox" },
    ...order.map((m) => ({ name: `lib/modules/${m.name}.ko`, type: "file", data: readFileSync(m.path) })),
    { name: "init", type: "file", mode: 0o755, data: initScript(order) },
  ];
  writeNew(join(out, "initramfs.cpio"), cpioNewc(entries));
  writeNew(join(out, "vmlinuz"), readFileSync(join(tree, "boot", `vmlinuz-${kver}`)));
  writeNew(join(out, "bios.bin"), readFileSync(join(tree, "usr", "share", "seabios", "bios.bin")));
  const userlandMeta = {
    files: extraFiles.map((f) => (f.type === "file" ? `/${f.name}` : `/${f.name} -> ${f.target}`)),
    packages: Object.assign({}, ...extra.map((u) => u.packages)),
  };
  writeNew(stamp, JSON.stringify({ recipe: RECIPE, kernel: kver, package: kernel, modules: order.map((m) => m.name), userland: userlandMeta, guest: GUEST }, null, 2) + "\n");
  rmSync(tree, { recursive: true, force: true });
  rmSync(join(out, "userland"), { recursive: true, force: true });
  log(`ready in ${out} (initramfs ${statSync(join(out, "initramfs.cpio")).size} bytes)`);
  return 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then((c) => process.exit(c), (e) => {
    if (e instanceof Unavailable) { log(`unavailable: ${e.message}`); process.exit(2); }
    log(`failed: ${e.stack ?? e}`);
    process.exit(1);
  });
}
