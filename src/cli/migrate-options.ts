// The options of `vmdev migrate` shared by both kinds of source (a Machine,
// a v86): the flags' shape, the endpoint, the link's authentication and the
// migration's own options.

import { numberOption, readFileOption, usage } from "./common.js";
import { LOOPBACK, parsePsk, type TransportAuth } from "../migration/transport.js";
import type { MigrateOptions } from "../migration/source.js";

const fail = usage;
const num = numberOption;
const readOpt = readFileOption;

/** The flags of `vmdev migrate`, as commander gives them. */
export interface Opts {
  ram?: string; vcpus?: string; dirty: string; pattern: string; fill: string;
  downtime: string; maxRounds: string; bandwidth: string; autoConverge: boolean; delta: boolean; cache: string;
  verify: string; inProcess?: boolean; traffic?: boolean; pcap?: string; control?: string; listen?: string; connect?: string; pskFile?: string; pskIdentity?: string; tlsCert?: string; tlsKey?: string; tlsCa?: string; json?: boolean; report: string | false;
  v86?: string;
  runAfter: string; option: string[]; config?: string; slot: string[]; memory?: string; cpus?: string; dumpConfig?: boolean; device: string[];
}

/** "PORT" or "HOST:PORT" ("[v6]:PORT") → host and port; the host defaults to 127.0.0.1. */
export function hostPort(v: string, what: string, minPort: number): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]:|([^:]+):)?(\d+)$/.exec(v.trim()) ?? fail(`${what} ${v}: want PORT or HOST:PORT`);
  return { host: m[1] ?? m[2] ?? LOOPBACK, port: num(m[3], what, minPort, 65535, true) };
}

/** The link's authentication: TLS-PSK (--psk-file, --psk-identity), certificates (--tls-cert, --tls-key, --tls-ca), or none. */
export function authOf(opts: Opts): TransportAuth | undefined {
  const certs = [opts.tlsCert, opts.tlsKey, opts.tlsCa];
  if (certs.some((c) => c !== undefined)) {
    if (opts.pskFile !== undefined) fail("--psk-file and --tls-* are two ways to authenticate: give one");
    if (certs.some((c) => c === undefined)) fail("certificates: want --tls-cert, --tls-key and --tls-ca together");
    return { cert: readOpt(opts.tlsCert!, "--tls-cert"), key: readOpt(opts.tlsKey!, "--tls-key"), ca: readOpt(opts.tlsCa!, "--tls-ca") };
  }
  if (opts.pskFile === undefined) {
    if (opts.pskIdentity !== undefined) fail("--psk-identity needs --psk-file");
    return undefined;
  }
  const bytes = readOpt(opts.pskFile, "--psk-file");
  try { return { psk: parsePsk(bytes), identity: opts.pskIdentity }; } catch (e) { return fail(`--psk-file ${opts.pskFile}: ${(e as Error).message}`); }
}

/** The migration's options from the command line (both kinds of source: a Machine, a v86). */
export function migrateOptionsOf(opts: Pick<Opts, "downtime" | "maxRounds" | "bandwidth" | "autoConverge" | "delta" | "cache" | "verify">): MigrateOptions {
  return {
    downtimeLimitMs: num(opts.downtime, "--downtime", 0, 1e6),
    maxRounds: num(opts.maxRounds, "--max-rounds", 1, 1000, true),
    bandwidthLimit: num(opts.bandwidth, "--bandwidth", 0, 1e6) * 1e6,
    autoConverge: opts.autoConverge,
    delta: opts.delta,
    cacheMiB: num(opts.cache, "--cache", 1, 256, true),
    verify: opts.verify === "full" || opts.verify === "sent" || opts.verify === "deferred" ? opts.verify : fail(`--verify ${opts.verify}: want deferred, full or sent`),
  };
}
