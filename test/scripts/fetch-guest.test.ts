// The initramfs writer of scripts/fetch-guest.mjs, read back by an independent
// newc parser (the format of the kernel's initramfs unpacker, see
// Documentation/driver-api/early-userspace/buffer-format.rst).
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without type declarations
import { cpioNewc, parseReadelf } from "../../scripts/fetch-guest.mjs";

interface Entry { name: string; mode: number; data: Buffer; ino: number; nlink: number }

function parseNewc(buf: Buffer): Entry[] {
  const out: Entry[] = [];
  let p = 0;
  const pad4 = (n: number) => (n + 3) & ~3;
  for (;;) {
    expect(buf.toString("ascii", p, p + 6)).toBe("070701");
    const f = (i: number) => parseInt(buf.toString("ascii", p + 6 + i * 8, p + 14 + i * 8), 16);
    const [ino, mode, nlink, size, namesize] = [f(0), f(1), f(4), f(6), f(11)];
    const name = buf.toString("utf8", p + 110, p + 110 + namesize - 1);
    expect(buf[p + 110 + namesize - 1]).toBe(0);
    const dataAt = pad4(p + 110 + namesize);
    if (name === "TRAILER!!!") break;
    out.push({ name, mode, data: buf.subarray(dataAt, dataAt + size), ino, nlink });
    p = pad4(dataAt + size);
  }
  return out;
}

describe("fetch-guest cpio writer", () => {
  it("writes newc entries the kernel can unpack: names, modes, sizes, padding, trailer", () => {
    const init = Buffer.from("#!/bin/sh\necho hi\n");
    const odd = Buffer.from([1, 2, 3, 4, 5]);
    const img: Buffer = cpioNewc([
      { name: "bin", type: "dir" },
      { name: "bin/busybox", type: "file", mode: 0o755, data: odd },
      { name: "bin/sh", type: "symlink", target: "busybox" },
      { name: "init", type: "file", mode: 0o755, data: init },
    ]);
    expect(img.length % 512).toBe(0);
    const e = parseNewc(img);
    expect(e.map((x) => x.name)).toEqual(["bin", "bin/busybox", "bin/sh", "init"]);
    expect(e[0].mode).toBe(0o040755);
    expect(e[0].nlink).toBe(2);
    expect(e[1].mode).toBe(0o100755);
    expect([...e[1].data]).toEqual([1, 2, 3, 4, 5]);
    expect(e[2].mode).toBe(0o120777);
    expect(e[2].data.toString()).toBe("busybox");
    expect(e[3].data.equals(init)).toBe(true);
    expect(new Set(e.map((x) => x.ino)).size).toBe(4);
  });
});

describe("fetch-guest ELF dependencies", () => {
  it("reads the program interpreter and every DT_NEEDED from readelf -W -l -d output", () => {
    const text = [
      "Program Headers:",
      "  INTERP         0x0001b4 0x000001b4 0x000001b4 0x00013 0x00013 R   0x1",
      "      [Requesting program interpreter: /lib/ld-linux.so.2]",
      "Dynamic section at offset 0xc8e90 contains 32 entries:",
      "  Tag        Type                         Name/Value",
      " 0x00000001 (NEEDED)                     Shared library: [libbpf.so.1]",
      " 0x00000001 (NEEDED)                     Shared library: [libc.so.6]",
      " 0x0000000e (SONAME)                     Library soname: [libfoo.so.1]",
    ].join("\n");
    expect(parseReadelf(text)).toEqual({ interp: "/lib/ld-linux.so.2", needed: ["libbpf.so.1", "libc.so.6"] });
    expect(parseReadelf("There is no dynamic section in this file.")).toEqual({ interp: null, needed: [] });
  });
});
