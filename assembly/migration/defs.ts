// Migration constants the host shares: the page-record format, the encode
// flags and the statistics of the last call. scripts/build-wasm.mjs
// generates MigrationDefs in src/generated/constants.ts from this file.

/** Bytes of a page record header (pages.ts describes the record). */
export const RECORD_HEADER: u32 = 16;

/** Page record kinds (header byte 4). */
export namespace Rec {
  /** The page is all zeros; len 0. */
  export const ZERO = 0;
  /** len 4096: the page itself. */
  export const FULL = 1;
  /** An XBZRLE stream against the copy sent before, len < 4096. */
  export const DELTA = 2;
  /** Round 0: len 0, the u64 field holds a count of zero pages from this one. */
  export const ZERO_RUN = 3;
}

/** Largest delta worth sending: beyond this a full page costs about the same. */
export const DELTA_MAX: u32 = 3072;
/** Round number recorded for a page never sent. */
export const ROUND_NEVER: u32 = 0xffff;

// mig_encode flags.
/** Round 0: zero pages go as ZERO_RUN records. */
export const ENC_SKIP_ZERO: u32 = 1;
/** Try XBZRLE against the cache, and cache what is sent. */
export const ENC_DELTA: u32 = 2;

/** Statistics of the last encode/apply/compare call, read with mig_stat(i). */
export namespace Stat {
  /** Pages consumed from the requested range. */
  export const PAGES = 0;
  /** Zero-marker records written / applied. */
  export const ZERO = 1;
  export const FULL = 2;
  export const DELTA = 3;
  /** Zero pages sent inside ZERO_RUN records (ENC_SKIP_ZERO). */
  export const SKIPPED = 4;
  /** Pages in holes skipped. */
  export const HOLES = 5;
  /** Apply: offset of the record that failed. */
  export const BAD_OFFSET = 6;
  /** Apply: its page number (0xffffffff if unknown); hash range, unsent, layout: the first page found. */
  export const BAD_PAGE = 7;
  /** Compare, unsent: total pages found; hash range: pages whose hash changed. */
  export const MISMATCHES = 8;
  /** Encode: bytes of delta payload written. */
  export const DELTA_BYTES = 9;
  /** Layout: 1 if the first differing page is a hole in the blob, 0 if it is RAM there. */
  export const HOLE = 10;
}
export const STATS: i32 = 11;
