// Ethernet MAC addresses as the host writes them (configuration, options):
// the one parser every host-side API uses.

/**
 * Parse "52:54:00:12:34:56" (':' or '-' between six groups of one or two hex
 * digits), or check and copy 6 bytes. Throws RangeError on anything else
 * (host input, never guest input).
 */
export function parseMac(mac: string | Uint8Array): Uint8Array {
  if (typeof mac !== "string") {
    if (!(mac instanceof Uint8Array) || mac.length !== 6) throw new RangeError(`MAC must be 6 bytes, got ${mac?.length}`);
    return Uint8Array.from(mac);
  }
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) throw new RangeError(`bad MAC address "${mac}"`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** "52:54:00:12:34:56" for 6 bytes. */
export function formatMac(mac: Uint8Array): string {
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/** The two numbers the wasm exports take a MAC as: bytes 0-1 and bytes 2-5, big-endian. */
export function macWords(mac: Uint8Array): [hi: number, lo: number] {
  return [(mac[0] << 8) | mac[1], ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0];
}
