// The defs.ts reader of scripts/constants.mjs: what it mirrors, and that it
// refuses every exported form it cannot mirror instead of leaving a constant
// out. (The values come from the compiler; test/abi.test.ts pins them.)
import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without type declarations
import { parseDefs } from "../../scripts/constants.mjs";

interface Member { name: string; declared: string | null; init: string; doc: string | null }
type Item = ({ kind: "const" } & Member) | { kind: "ns"; name: string; doc: string | null; members: Member[] };
const parse = (src: string): Item[] => parseDefs(src, "x/defs.ts");

describe("defs.ts reader", () => {
  it("reads constants, tables and their docs; skips functions and private declarations", () => {
    const items = parse(`// header
import { A } from "../core/defs";
/** The answer. */
export const X: u32 = 0x2a;
export const Y = (1 << 3) | A; // trailing doc
const PRIVATE: u32 = 7;
// @ts-ignore: decorator
@inline export function bit(n: u32): u64 { return (<u64>1) << n; }
export function multi(n: u32): u32 {
  if (n > 1) { return n; }
  return 0;
}
/**
 * A table,
 * over two lines.
 */
export namespace T {
  /** first */
  export const A = 0;
  export const B: u64 = 1; // second
}
`);
    expect(items).toEqual([
      { kind: "const", name: "X", declared: "u32", init: "0x2a", doc: "The answer." },
      { kind: "const", name: "Y", declared: null, init: "(1 << 3) | A", doc: "trailing doc" },
      { kind: "ns", name: "T", doc: "A table, over two lines.", members: [
        { name: "A", declared: null, init: "0", doc: "first" },
        { name: "B", declared: "u64", init: "1", doc: "second" },
      ] },
    ]);
  });

  it("refuses exports it cannot mirror", () => {
    for (const src of [
      "export let X: u32 = 1;",
      "export class C {}",
      "export { X } from \"./other\";",
      "export const X: u32 =\n  1;",
      "export namespace T {\n  export let A = 1;\n}",
      "export namespace T {\n  export namespace U {\n  }\n}",
      "import { f } from \"../core/layout\";",
      "export namespace T {\n  export const A = 1;",
    ]) expect(() => parse(src), src).toThrow();
  });
});
