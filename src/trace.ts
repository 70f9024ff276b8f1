// The tracing hook: named channels that events are published to when a
// tracer is installed. The Node entry installs node:diagnostics_channel
// (src/trace-node.ts); the browser build installs nothing, so this file
// imports no node: module. Publishers ask `hasSubscribers` before they build
// a message: with no tracer, or no subscriber, tracing costs one property read.

/** One channel as a publisher sees it (a node:diagnostics_channel Channel fits). */
export interface TraceChannel {
  readonly hasSubscribers: boolean;
  publish(message: unknown): void;
}

/** Gives the channel of a name (node:diagnostics_channel's `channel`). */
export interface Tracer {
  channel(name: string): TraceChannel;
}

const OFF: TraceChannel = { hasSubscribers: false, publish() {} };
let tracer: Tracer | null = null;
const sets: Array<{ names: Record<string, string>; live: Record<string, TraceChannel> }> = [];

/** Install the tracer every publisher uses (null: tracing off). */
export function setTracer(t: Tracer | null): void {
  tracer = t;
  for (const s of sets) for (const [k, name] of Object.entries(s.names)) s.live[k] = t === null ? OFF : t.channel(name);
}

/** The tracer installed now, or null. */
export function currentTracer(): Tracer | null { return tracer; }

/**
 * A publisher's channels by key (`{ transmit: "vmdev:nic:transmit" }`): the
 * object stays the same and follows setTracer, so a hot path keeps it.
 */
export function traceChannels<K extends string>(names: Record<K, string>): Readonly<Record<K, TraceChannel>> {
  const live = {} as Record<string, TraceChannel>;
  for (const [k, name] of Object.entries(names)) live[k] = tracer === null ? OFF : tracer.channel(name as string);
  sets.push({ names, live });
  return live as Record<K, TraceChannel>;
}
