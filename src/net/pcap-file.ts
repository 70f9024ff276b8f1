// A pcap capture streamed to a file (Node): the writer's records go to a
// write stream as they come; what the stream has not flushed yet counts
// against the writer's bound (PcapOptions.maxBufferedBytes, default 64 MiB),
// so a slow disk drops frames (counted) instead of growing the heap.

import { createWriteStream, openSync, type WriteStream } from "node:fs";
import { PcapWriter, type PcapOptions } from "./pcap.js";

/** A capture file being written. */
export interface PcapFile {
  readonly writer: PcapWriter;
  /** The HostLinkOptions.tap of the writer. */
  readonly tap: PcapWriter["tap"];
  readonly path: string;
  /** Bytes recorded and not yet written to the file (what counts against the bound). */
  pending(): number;
  /** Stop recording and flush the file; resolves when it is complete on disk. */
  close(): Promise<void>;
}

/** Open `path` (truncated; throws at once if it cannot be) and return a writer streaming into it. */
export function openPcapFile(path: string, opts: PcapOptions = {}): PcapFile {
  const stream: WriteStream = createWriteStream(path, { fd: openSync(path, "w") });
  let error: Error | null = null;
  stream.on("error", (e) => { error = e; });
  const writer = new PcapWriter({
    write: (chunk) => { if (!error) stream.write(chunk); },
    pending: () => (error ? Infinity : stream.writableLength),
  }, opts);
  let closing: Promise<void> | null = null;
  return {
    writer,
    tap: writer.tap,
    path,
    pending: () => stream.writableLength,
    close() {
      writer.close();
      closing ??= new Promise<void>((resolve, reject) => {
        if (error) { reject(new Error(`pcap ${path}: ${error.message}`)); return; }
        stream.end(() => (error ? reject(new Error(`pcap ${path}: ${(error as Error).message}`)) : resolve()));
      });
      return closing;
    },
  };
}
