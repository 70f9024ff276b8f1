// Byte-array assertions for loops that make thousands of them.
import { expect } from "vitest";

/**
 * `expect(actual).toEqual(expected)` for byte arrays in a fuzz loop: the bytes
 * are compared first and toEqual runs only on a difference (to report it).
 * toEqual walks a typed array element by element, which over thousands of
 * cases is most of a fuzz test's time.
 */
export function expectSameBytes(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  if (Buffer.compare(actual, expected) !== 0) expect(actual, message).toEqual(expected);
}
