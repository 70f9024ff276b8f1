// The readable form of an inspector dump: the header on two lines, problems,
// the device's decoded state as an indented tree, then the raw fields.

import type { InspectedEnvelope } from "./types.js";

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const scalar = (v: unknown): string => (typeof v === "string" ? v : typeof v === "bigint" ? `0x${v.toString(16)}` : JSON.stringify(v) ?? String(v));
const inline = (v: unknown[]): boolean => v.every((x) => !isPlain(x) && !Array.isArray(x));

/** A nested dump (a machine blob's device) is rendered as a dump, not as a tree of its parts. */
const isDump = (v: unknown): v is InspectedEnvelope => isPlain(v) && typeof v.kindName === "string" && Array.isArray(v.errors) && Array.isArray(v.fields);

function tree(v: unknown, indent: string, out: string[]): void {
  if (isDump(v)) { out.push(formatInspection(v, indent)); return; }
  if (isPlain(v)) {
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      if (isDump(x)) { out.push(`${indent}${k}:`); out.push(formatInspection(x, indent + "  ")); }
      else if (isPlain(x) && Object.keys(x).length > 0) { out.push(`${indent}${k}:`); tree(x, indent + "  ", out); }
      else if (Array.isArray(x) && !inline(x)) { out.push(`${indent}${k}: (${x.length})`); tree(x, indent + "  ", out); }
      else out.push(`${indent}${k}: ${Array.isArray(x) ? `[${x.map(scalar).join(", ")}]` : isPlain(x) ? "{}" : scalar(x)}`);
    }
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => {
      if (isPlain(x) || Array.isArray(x)) { out.push(`${indent}[${i}]`); tree(x, indent + "  ", out); }
      else out.push(`${indent}[${i}] ${scalar(x)}`);
    });
  } else out.push(`${indent}${scalar(v)}`);
}

/** Render a dump as text (one string, lines joined by "\n"). */
export function formatInspection(e: InspectedEnvelope, indent = ""): string {
  const out: string[] = [];
  const h = e.header;
  if (h) {
    out.push(`${indent}${e.kindName} (kind ${h.kind}) state v${h.payloadVersion}, ${h.payloadLength} payload bytes, ABI ${h.abi}, build ${h.buildId}`);
    out.push(`${indent}  magic ${JSON.stringify(h.magic)} format ${h.format} header ${h.headerSize} flags ${h.flags} payload xxh64 ${h.payloadChecksum} header xxh64 ${h.headerChecksum}`);
  } else out.push(`${indent}not an envelope`);
  for (const err of e.errors) out.push(`${indent}  ! ${err}`);
  if (e.decodeError) out.push(`${indent}  ! decode: ${e.decodeError}`);
  if (e.device !== undefined) {
    out.push(`${indent}state:`);
    tree(e.device, indent + "  ", out);
  }
  if (e.fields.length) {
    out.push(`${indent}fields (${e.fields.length}):`);
    for (const f of e.fields) out.push(`${indent}  ${String(f.tag).padStart(5)} ${(f.name ?? "?").padEnd(18)} ${String(f.length).padStart(6)} B  ${f.preview}`);
  }
  return out.join("\n");
}

/** JSON of a dump (u64 values are already hex strings; any stray bigint becomes one). */
export function inspectionJson(e: InspectedEnvelope): string {
  return JSON.stringify(e, (_k, v: unknown) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v), 2);
}
