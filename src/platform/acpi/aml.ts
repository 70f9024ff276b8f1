// A small AML encoder (ACPI 6.x §20.2, "AML Grammar Definition"): the few
// terms a static DSDT needs — scopes, devices, named objects, integers,
// strings, packages — encoded as the ASL compiler encodes them (smallest
// integer form, one-byte package counts, minimal package lengths), so a
// disassembled and recompiled table is byte-identical.

/** An encoded AML term. */
export type Aml = Uint8Array;

const enc = new TextEncoder();

function cat(parts: readonly Aml[]): Aml {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** PkgLength (§20.2.4) of a body of `n` bytes: the count includes the PkgLength bytes themselves. */
export function pkgLength(n: number): Aml {
  if (n + 1 <= 0x3f) return Uint8Array.of(n + 1);
  for (let extra = 1; extra <= 3; extra++) {
    const total = n + 1 + extra;
    if (total < 2 ** (4 + 8 * extra)) {
      const out = new Uint8Array(1 + extra);
      out[0] = (extra << 6) | (total & 0xf);
      for (let i = 1; i <= extra; i++) out[i] = (total >>> (4 + 8 * (i - 1))) & 0xff;
      return out;
    }
  }
  throw new RangeError(`AML package of ${n} bytes is over the 256 MiB PkgLength limit`);
}

/** A NameSeg (§20.2.2): four characters, a leading letter or '_', then letters, digits or '_'; shorter names are padded with '_'. */
export function nameSeg(name: string): Aml {
  if (!/^[A-Z_][A-Z0-9_]{0,3}$/.test(name)) throw new RangeError(`'${name}' is not an ACPI name segment`);
  return enc.encode(name.padEnd(4, "_"));
}

/** A NameString: `\` for the root, then segments separated by '.' (e.g. `\_SB.PCI0`, `C000`). */
export function nameString(path: string): Aml {
  const root = path.startsWith("\\");
  const segs = (root ? path.slice(1) : path).split(".").filter((s) => s !== "");
  const head = root ? [Uint8Array.of(0x5c)] : [];
  if (segs.length === 0) return cat([...head, Uint8Array.of(0x00)]);
  if (segs.length === 1) return cat([...head, nameSeg(segs[0])]);
  if (segs.length === 2) return cat([...head, Uint8Array.of(0x2e), nameSeg(segs[0]), nameSeg(segs[1])]);
  if (segs.length > 255) throw new RangeError("AML name path of more than 255 segments");
  return cat([...head, Uint8Array.of(0x2f, segs.length), ...segs.map(nameSeg)]);
}

/** An integer constant (§20.2.3): Zero, One, Ones, or the smallest of Byte/Word/DWord/QWord. */
export function integer(v: number | bigint): Aml {
  const x = BigInt(v);
  if (x < 0n || x > 0xffff_ffff_ffff_ffffn) throw new RangeError(`AML integer ${x} is outside 0..2^64-1`);
  if (x === 0n) return Uint8Array.of(0x00);
  if (x === 1n) return Uint8Array.of(0x01);
  if (x === 0xffff_ffff_ffff_ffffn) return Uint8Array.of(0xff);
  const [prefix, bytes] = x <= 0xffn ? [0x0a, 1] : x <= 0xffffn ? [0x0b, 2] : x <= 0xffff_ffffn ? [0x0c, 4] : [0x0e, 8];
  const out = new Uint8Array(1 + bytes);
  out[0] = prefix;
  for (let i = 0; i < bytes; i++) out[1 + i] = Number((x >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** A string constant: ASCII 0x01..0x7F, NUL-terminated. */
export function string(s: string): Aml {
  if (!/^[\x01-\x7f]*$/.test(s)) throw new RangeError(`AML strings are ASCII without NUL: '${s}'`);
  return cat([Uint8Array.of(0x0d), enc.encode(s), Uint8Array.of(0x00)]);
}

/** EISAID("PNP0A03"): three letters and four hex digits compressed into a DWord (§19.6.35). */
export function eisaId(id: string): Aml {
  if (!/^[A-Z]{3}[0-9A-F]{4}$/.test(id)) throw new RangeError(`'${id}' is not an EISA ID`);
  const c = (i: number) => id.charCodeAt(i) - 0x40;
  const vendor = (c(0) << 10) | (c(1) << 5) | c(2);
  const product = parseInt(id.slice(3), 16);
  // Stored big-endian: vendor then product, so the little-endian DWord is byte-swapped.
  const v = ((vendor >> 8) | ((vendor & 0xff) << 8) | ((product >> 8) << 16) | ((product & 0xff) << 24)) >>> 0;
  return integer(v);
}

/** Package { elements } (§19.6.101): at most 255 elements. */
export function pkg(elements: readonly Aml[]): Aml {
  if (elements.length > 255) throw new RangeError("AML Package of more than 255 elements (use a VarPackage)");
  const body = cat([Uint8Array.of(elements.length), ...elements]);
  return cat([Uint8Array.of(0x12), pkgLength(body.length), body]);
}

/** Name (path, value). */
export function name(path: string, value: Aml): Aml { return cat([Uint8Array.of(0x08), nameString(path), value]); }

/** Scope (path) { terms }. */
export function scope(path: string, terms: readonly Aml[]): Aml {
  const body = cat([nameString(path), ...terms]);
  return cat([Uint8Array.of(0x10), pkgLength(body.length), body]);
}

/** Device (path) { terms }. */
export function device(path: string, terms: readonly Aml[]): Aml {
  const body = cat([nameString(path), ...terms]);
  return cat([Uint8Array.of(0x5b, 0x82), pkgLength(body.length), body]);
}

/** Concatenate terms into one term list. */
export function terms(list: readonly Aml[]): Aml { return cat(list); }
