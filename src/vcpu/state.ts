// The vCPU state machine, after bhyve's vcpu_set_state: IDLE, FROZEN, RUNNING,
// SLEEPING, with only these transitions:
//
//        IDLE <-> FROZEN <-> RUNNING
//                   ^
//                   +--> SLEEPING
//
// The state word lives in the VM's SyncState (word = state | owner << 4) so the
// vCPU's worker and the host move it with compare-and-swap. Whoever takes a
// vCPU from IDLE to FROZEN owns it until it returns it to IDLE: the vCPU's own
// thread on its way to RUNNING/SLEEPING, or the host when it freezes the
// vCPU (the write lock, pause). A vCPU only writes guest memory while RUNNING,
// which it reaches only through its own FROZEN, so a host-frozen vCPU cannot write.

import { W, VW, type SyncState } from "../sync/shared.js";

/** The four vCPU states (bhyve's VCPU_IDLE/FROZEN/RUNNING/SLEEPING). */
export const VcpuState = { IDLE: 0, FROZEN: 1, RUNNING: 2, SLEEPING: 3 } as const;
/** One of VcpuState. */
export type VcpuStateValue = (typeof VcpuState)[keyof typeof VcpuState];
/** State names by value. */
export const VCPU_STATE_NAMES = ["IDLE", "FROZEN", "RUNNING", "SLEEPING"] as const;

/** Who took the vCPU out of IDLE. */
export const VcpuOwner = { NONE: 0, SELF: 1, HOST: 2 } as const;
/** One of VcpuOwner. */
export type VcpuOwnerValue = (typeof VcpuOwner)[keyof typeof VcpuOwner];

/** True for the legal transitions: IDLE↔FROZEN, FROZEN↔RUNNING, FROZEN↔SLEEPING. */
export function legalTransition(from: number, to: number): boolean {
  if (from === VcpuState.FROZEN) return to === VcpuState.IDLE || to === VcpuState.RUNNING || to === VcpuState.SLEEPING;
  return to === VcpuState.FROZEN && (from === VcpuState.IDLE || from === VcpuState.RUNNING || from === VcpuState.SLEEPING);
}

/**
 * Result of a transition: "ok"; "illegal" (not an edge of the machine,
 * counted); "conflict" (the vCPU is not in `from` under this owner).
 */
export type TransitionResult = "ok" | "illegal" | "conflict";

const word = (state: number, owner: number) => state | (owner << 4);

/** One vCPU's state word. */
export class VcpuCell {
  readonly index: number;
  private readonly at: number;
  constructor(private readonly s: SyncState, index: number) {
    if (!Number.isInteger(index) || index < 0 || index >= s.vcpus) throw new RangeError(`vCPU ${index} out of range 0..${s.vcpus - 1}`);
    this.index = index;
    this.at = s.vcpuWord(index, VW.STATE);
  }

  /** Word index of the state (for waits). */
  get wordIndex(): number { return this.at; }
  get raw(): number { return Atomics.load(this.s.i32, this.at); }
  get state(): VcpuStateValue { return (this.raw & 0xf) as VcpuStateValue; }
  get owner(): VcpuOwnerValue { return (this.raw >> 4) as VcpuOwnerValue; }
  get stateName(): string { return VCPU_STATE_NAMES[this.state]; }

  /**
   * Move from `from` to `to` as `owner`. Leaving IDLE makes `owner` the
   * owner; entering IDLE clears it; other moves need the vCPU to be `owner`'s.
   */
  transition(from: number, to: number, owner: VcpuOwnerValue): TransitionResult {
    if (!legalTransition(from, to) || owner === VcpuOwner.NONE) {
      Atomics.add(this.s.i32, this.s.vcpuWord(this.index, VW.REFUSED), 1);
      this.s.count(W.TRANSITIONS_REFUSED);
      return "illegal";
    }
    const expect = from === VcpuState.IDLE ? word(from, 0) : word(from, owner);
    const next = to === VcpuState.IDLE ? word(to, 0) : word(to, owner);
    if (Atomics.compareExchange(this.s.i32, this.at, expect, next) !== expect) return "conflict";
    // Waiters only ever wait for IDLE (the host's freezes, on the pool's
    // idle counter): waking them on other moves would only cost extra hops.
    if (to === VcpuState.IDLE) {
      Atomics.notify(this.s.i32, this.at);
      const idle = this.s.idleWord();
      Atomics.add(this.s.i32, idle, 1);
      Atomics.notify(this.s.i32, idle);
    }
    return "ok";
  }

  /**
   * For a vCPU whose own thread can no longer move it (it failed, or was
   * terminated mid-run): finish its own legal path RUNNING/SLEEPING → FROZEN
   * → IDLE. A vCPU the host holds frozen stays with the host.
   */
  settleSelf(): void {
    if (this.owner !== VcpuOwner.SELF) return;
    const st = this.state;
    if (st === VcpuState.RUNNING || st === VcpuState.SLEEPING) this.transition(st, VcpuState.FROZEN, VcpuOwner.SELF);
    if (this.state === VcpuState.FROZEN) this.transition(VcpuState.FROZEN, VcpuState.IDLE, VcpuOwner.SELF);
  }

  /** Illegal transitions attempted on this vCPU. */
  get refused(): number { return Atomics.load(this.s.i32, this.s.vcpuWord(this.index, VW.REFUSED)); }
}
