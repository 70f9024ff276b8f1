// Typed events of a NIC model, on the platform's EventTarget (Node ≥ 20 and
// browsers alike; nothing here imports node:). Every NIC model (virtio-net,
// e1000, NE2000) owns one NicEvents and calls its emitters where it hands
// something to the host: frames given to `onTransmit` or taken by `receive`,
// interrupts given to the sink, filter changes, resets, link changes.
//
// Cheap when nobody looks: each emitter first asks `wants(type)`, a lookup of
// a listener count plus the trace channel's `hasSubscribers` (src/trace.ts:
// node:diagnostics_channel in Node); only then is an event object built.
// Frames that go from one device to another inside wasm (a link, a switch)
// never reach the host and raise no frame event: the counters count them.

import type { InterruptSink, MsiMessage } from "../device.js";
import { traceChannels } from "../trace.js";

/** Event types a NIC dispatches. */
export type NicEventType = "transmit" | "receive" | "interrupt" | "filterchange" | "reset" | "link";

/** Every event carries the name of the device that raised it. */
export class NicEvent extends Event {
  constructor(type: NicEventType, readonly device: string) { super(type); }
  /** The event as JSON (the control channel's trace sends this). */
  toJSON(): Record<string, unknown> { return { type: this.type, device: this.device }; }
}

/**
 * "transmit": a frame the guest sent, as given to `onTransmit` (the same
 * bytes, valid for the listener's call; copy to keep). "receive": a frame the
 * host handed to `receive`/`receiveBatch`; `status` is what `receive`
 * returned (null in a batch: the counters tell each frame's fate).
 */
export class NicFrameEvent extends NicEvent {
  constructor(type: "transmit" | "receive", device: string, readonly frame: Uint8Array, readonly status: number | null) { super(type, device); }
  get length(): number { return this.frame.length; }
  override toJSON(): Record<string, unknown> { return { ...super.toJSON(), length: this.length, status: this.status }; }
}

/** An interrupt the device delivered: an MSI(-X) message, or an INTx line driven to `level`. */
export class NicInterruptEvent extends NicEvent {
  constructor(device: string, readonly kind: "msi" | "intx", readonly msi: MsiMessage | null, readonly pin: number, readonly level: boolean) { super("interrupt", device); }
  override toJSON(): Record<string, unknown> { return { ...super.toJSON(), kind: this.kind, ...(this.msi ? { msi: { ...this.msi } } : { pin: this.pin, level: this.level }) }; }
}

/** The receive filter changed (read the device's `multicastWant()` for what it takes now). */
export class NicFilterEvent extends NicEvent {
  constructor(device: string) { super("filterchange", device); }
}

/**
 * The device was reset or broke: "host" (the host called `reset()`),
 * "restore" (a saved state was restored), "needs-reset" (virtio
 * DEVICE_NEEDS_RESET: the guest broke a rule the device cannot recover from).
 */
export class NicResetEvent extends NicEvent {
  constructor(device: string, readonly cause: "host" | "restore" | "needs-reset") { super("reset", device); }
  override toJSON(): Record<string, unknown> { return { ...super.toJSON(), cause: this.cause }; }
}

/** The link (cable) went up or down. */
export class NicLinkEvent extends NicEvent {
  constructor(device: string, readonly up: boolean) { super("link", device); }
  override toJSON(): Record<string, unknown> { return { ...super.toJSON(), up: this.up }; }
}

/** The event class of each type. */
export interface NicEventMap {
  transmit: NicFrameEvent;
  receive: NicFrameEvent;
  interrupt: NicInterruptEvent;
  filterchange: NicFilterEvent;
  reset: NicResetEvent;
  link: NicLinkEvent;
}

/** The trace channel of each event type (src/trace.ts; node:diagnostics_channel in Node). */
export const NIC_TRACE_CHANNELS: Readonly<Record<NicEventType, string>> = {
  transmit: "vmdev:nic:transmit", receive: "vmdev:nic:receive", interrupt: "vmdev:nic:interrupt",
  filterchange: "vmdev:nic:filterchange", reset: "vmdev:nic:reset", link: "vmdev:nic:link",
};
const channels = traceChannels(NIC_TRACE_CHANNELS);

type Listener<E> = ((ev: E) => void) | { handleEvent(ev: E): void };
interface Entry { listener: unknown; capture: boolean; once: boolean }

/** A NIC's events: `addEventListener("transmit", (e) => …)` with typed events; any number of listeners. */
export interface NicEvents {
  addEventListener<K extends keyof NicEventMap>(type: K, listener: Listener<NicEventMap[K]> | null, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void;
  removeEventListener<K extends keyof NicEventMap>(type: K, listener: Listener<NicEventMap[K]> | null, options?: boolean | EventListenerOptions): void;
  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void;
}

export class NicEvents extends EventTarget {
  /** Listeners registered per type, as EventTarget holds them (one per listener and capture flag). */
  private readonly entries: Record<string, Entry[]> = Object.create(null);

  constructor(readonly device: string) { super(); }

  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | AddEventListenerOptions): void {
    super.addEventListener(type, listener, options);
    if (listener === null) return;
    const o = typeof options === "object" ? options : { capture: options === true };
    if (o.signal?.aborted) return;
    const capture = o.capture === true;
    const list = (this.entries[type] ??= []);
    // EventTarget ignores a listener added twice with the same capture flag.
    if (list.some((e) => e.listener === listener && e.capture === capture)) return;
    const entry: Entry = { listener, capture, once: o.once === true };
    list.push(entry);
    o.signal?.addEventListener("abort", () => this.forget(type, entry), { once: true });
  }

  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean | EventListenerOptions): void {
    super.removeEventListener(type, listener, options);
    const capture = typeof options === "object" ? options.capture === true : options === true;
    const e = this.entries[type]?.find((x) => x.listener === listener && x.capture === capture);
    if (e) this.forget(type, e);
  }

  private forget(type: string, entry: Entry): void {
    const list = this.entries[type];
    const i = list ? list.indexOf(entry) : -1;
    if (i >= 0) list!.splice(i, 1);
  }

  /** Listeners of `type` now. */
  listenerCount(type: NicEventType): number { return this.entries[type]?.length ?? 0; }

  /** Someone wants events of `type`: a listener, or a subscriber of its trace channel. */
  wants(type: NicEventType): boolean {
    return (this.entries[type] !== undefined && this.entries[type].length !== 0) || channels[type].hasSubscribers;
  }

  /** Dispatch to the listeners and publish to the trace channel (callers ask `wants` first). */
  emit(ev: NicEvent): void {
    const type = ev.type as NicEventType;
    const list = this.entries[type];
    if (list !== undefined && list.length !== 0) {
      this.dispatchEvent(ev);
      // EventTarget has dropped its `once` listeners; drop them here too.
      if (list.some((e) => e.once)) this.entries[type] = list.filter((e) => !e.once);
    }
    if (channels[type].hasSubscribers) channels[type].publish(ev);
  }

  // The emitters the device models call.
  tx(frame: Uint8Array): void { if (this.wants("transmit")) this.emit(new NicFrameEvent("transmit", this.device, frame, null)); }
  rx(frame: Uint8Array, status: number | null): void { if (this.wants("receive")) this.emit(new NicFrameEvent("receive", this.device, frame, status)); }
  filterChanged(): void { if (this.wants("filterchange")) this.emit(new NicFilterEvent(this.device)); }
  reset(cause: NicResetEvent["cause"]): void { if (this.wants("reset")) this.emit(new NicResetEvent(this.device, cause)); }
  link(up: boolean): void { if (this.wants("link")) this.emit(new NicLinkEvent(this.device, up)); }

  /** `sink`, with every interrupt also raised as an "interrupt" event (after it was delivered). */
  wrapSink(sink: InterruptSink): InterruptSink {
    return {
      msi: (m) => { sink.msi(m); if (this.wants("interrupt")) this.emit(new NicInterruptEvent(this.device, "msi", m, 0, true)); },
      intx: (pin, level) => { sink.intx(pin, level); if (this.wants("interrupt")) this.emit(new NicInterruptEvent(this.device, "intx", null, pin, level)); },
    };
  }
}
