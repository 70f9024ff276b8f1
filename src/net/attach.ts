// Wiring a NIC model to a network backend through the multicast reconcile:
// each time the guest rewrites its receive filter, the NIC's whole want goes
// to the NIC's Reconciler, which turns it into individual joins and leaves.

import type { GroupBackend, MulticastWant } from "./control.js";
import { Reconciler, type ReconcilerOptions } from "./reconcile.js";

/** What a NIC model offers the control plane (virtio-net, e1000 and NE2000 all do). */
export interface FilteredNic {
  /** Called when the guest changed the receive filter. */
  onFilterChange: (() => void) | null;
  /** The receive filter's multicast want, read from the model. */
  multicastWant(): MulticastWant;
}

/**
 * Start reconciling `nic`'s multicast filter (and, when `backend` takes
 * them, its extra unicast addresses) into `backend`: the current
 * want at once, then every change the model signals. Returns the NIC's
 * reconciler; its close() (the NIC detaches) unhooks the NIC, restores any
 * listener that was there before, and leaves every group. A NIC whose want
 * cannot be read (destroyed) is left alone until it is closed.
 */
export function attachReconciler(nic: FilteredNic, backend: GroupBackend, opts: Omit<ReconcilerOptions, "onClose" | "addresses"> = {}): Reconciler {
  const before = nic.onFilterChange;
  // A backend that takes extra unicast addresses gets them through a second reconciler of the same kind.
  const { addUnicast, removeUnicast, setAllUnicast } = backend;
  const uni = addUnicast && removeUnicast
    ? new Reconciler({
      add: (a) => addUnicast.call(backend, a),
      remove: (a) => removeUnicast.call(backend, a),
      setAllMulticast: (on) => (setAllUnicast ? setAllUnicast.call(backend, on) : true),
    }, { ...opts, name: `${opts.name ?? "nic"} unicast`, addresses: "unicast" })
    : null;
  const push = (): void => {
    let want: MulticastWant;
    try { want = nic.multicastWant(); } catch { return; }
    rec.replace(want);
    uni?.replace(want.allUnicast ? { all: true, reason: "overflow", groups: [] } : { all: false, groups: want.unicast ?? [] });
  };
  const hook = (): void => { before?.(); push(); };
  const rec: Reconciler = new Reconciler(backend, {
    ...opts,
    onClose: () => { if (nic.onFilterChange === hook) nic.onFilterChange = before; void uni?.close(); },
  });
  nic.onFilterChange = hook;
  push();
  return rec;
}
