// Devices the user brings to a migration: a module that makes a
// MigratableDevice for each side (`vmdev migrate --device ./my-device.js`),
// checked as hostile input, and wrappers that add such devices to a
// migration source and to a destination factory.
//
// docs/migrate-your-device.md is the guide; examples/my-device.mjs the example.

import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import { Status } from "../status.js";
import type { VmCore } from "../vm-core.js";
import type { DestinationFactory, MigratableDevice, MigrationDestination, MigrationSource } from "./types.js";

/** What a device module is told when it makes its device. */
export interface UserDeviceContext {
  /** Which side this device lives on. */
  readonly role: "source" | "destination";
  /** The VM's core: guest RAM through the guest-memory port (`core.guest`), the dirty bitmap. */
  readonly core: VmCore;
}

/**
 * A device module: exports `createDevice` (or a default export of the same
 * shape) that makes the device (or several) for one side. The same module is
 * loaded on both sides; each device's `kind` and `name` must agree between
 * them (the destination refuses the VM otherwise).
 */
export interface UserDeviceModule {
  createDevice(ctx: UserDeviceContext): MigratableDevice | MigratableDevice[] | Promise<MigratableDevice | MigratableDevice[]>;
}

/** Largest state a user device may save: what one DEVICE frame carries, less its header. */
export const MAX_USER_STATE = (4 << 20) - 1024;

/** A device module or one of its devices is not what the interface says. */
export class UserDeviceError extends Error {
  constructor(message: string) { super(message); this.name = "UserDeviceError"; }
}

const METHODS = ["saveState", "restoreState", "reset"] as const;
const HOOKS = ["quiesce", "resume", "announce", "framesLost"] as const;

/**
 * Check a device a module made and put it behind a guard: what it returns
 * is checked on every call, so a device that misbehaves mid-migration fails
 * the migration cleanly (saveState: the source resumes, with the device
 * named; restoreState: the destination refuses the state) instead of
 * sending garbage or throwing into the engine.
 */
export function guardDevice(d: unknown, where: string): MigratableDevice {
  if (typeof d !== "object" || d === null) throw new UserDeviceError(`${where}: createDevice gave ${d === null ? "null" : typeof d}, want a device object`);
  const dev = d as Record<string, unknown>;
  const name = dev.name, kind = dev.kind;
  if (typeof name !== "string" || name.length === 0 || new TextEncoder().encode(name).length > 255) throw new UserDeviceError(`${where}: device name ${JSON.stringify(name)}: want a string of 1 to 255 UTF-8 bytes`);
  if (typeof kind !== "number" || !Number.isInteger(kind) || kind < 0 || kind > 0xffff_ffff) throw new UserDeviceError(`${where}: device ${name}: kind ${String(kind)}: want a u32`);
  for (const m of METHODS) if (typeof dev[m] !== "function") throw new UserDeviceError(`${where}: device ${name}: ${m} is not a function`);
  for (const h of HOOKS) if (dev[h] !== undefined && typeof dev[h] !== "function") throw new UserDeviceError(`${where}: device ${name}: ${h} is not a function`);
  const call = <T>(m: string, ...args: unknown[]): T => (dev[m] as (...a: unknown[]) => T).apply(d, args);
  const guarded: MigratableDevice = {
    kind,
    name,
    saveState(): Uint8Array {
      const blob = call<unknown>("saveState");
      if (!(blob instanceof Uint8Array)) throw new UserDeviceError(`device ${name}: saveState returned ${blob === null ? "null" : typeof blob}, want a Uint8Array`);
      if (blob.length > MAX_USER_STATE) throw new UserDeviceError(`device ${name}: saveState returned ${blob.length} bytes, at most ${MAX_USER_STATE}`);
      return blob;
    },
    restoreState(blob: Uint8Array): number {
      let s: unknown;
      try {
        s = call<unknown>("restoreState", blob);
      } catch {
        return Status.ERR_STATE_INVALID;
      }
      return typeof s === "number" && Number.isInteger(s) && s >= 0 ? s : Status.ERR_STATE_INVALID;
    },
    reset(): void { call("reset"); },
  };
  for (const h of HOOKS) if (typeof dev[h] === "function") (guarded as unknown as Record<string, unknown>)[h] = (...a: unknown[]) => call(h, ...a);
  if (guarded.framesLost) {
    const lost = guarded.framesLost;
    guarded.framesLost = () => { const n = lost(); return typeof n === "number" && Number.isFinite(n) && n >= 0 ? n : 0; };
  }
  return guarded;
}

/** Import a device module by path (relative to the working directory) or package name. */
export async function importDeviceModule(specifier: string): Promise<UserDeviceModule> {
  const url = /^[./]/.test(specifier) ? pathToFileURL(resolve(specifier)).href : specifier;
  let m: Record<string, unknown>;
  try {
    m = await import(url);
  } catch (e) {
    throw new UserDeviceError(`--device ${specifier}: ${(e as Error).message}`);
  }
  const def = m.default as Record<string, unknown> | undefined;
  const create = typeof m.createDevice === "function" ? m.createDevice : typeof def?.createDevice === "function" ? def.createDevice : def;
  if (typeof create !== "function") throw new UserDeviceError(`--device ${specifier}: the module exports no createDevice function`);
  return { createDevice: create as UserDeviceModule["createDevice"] };
}

/** Make and check the devices of `modules` for one side; names must be unique among them and `taken`. */
export async function makeUserDevices(modules: ReadonlyArray<{ specifier: string; module: UserDeviceModule }>, ctx: UserDeviceContext, taken: readonly string[] = []): Promise<MigratableDevice[]> {
  const out: MigratableDevice[] = [];
  const names = new Set(taken);
  for (const { specifier, module } of modules) {
    let made: unknown;
    try {
      made = await module.createDevice(ctx);
    } catch (e) {
      throw new UserDeviceError(`--device ${specifier}: createDevice failed on the ${ctx.role}: ${(e as Error).message}`);
    }
    for (const d of Array.isArray(made) ? made : [made]) {
      const g = guardDevice(d, `--device ${specifier}`);
      if (names.has(g.name)) throw new UserDeviceError(`--device ${specifier}: device name ${g.name} is taken`);
      names.add(g.name);
      out.push(g);
    }
  }
  return out;
}

/** `src` with `extra` devices migrated after its own. */
export function withDevices(src: MigrationSource, extra: readonly MigratableDevice[]): MigrationSource {
  return {
    get core() { return src.core; },
    get devices() { return [...src.devices, ...extra]; },
    writeLock: () => src.writeLock(),
    setThrottle: (f) => src.setThrottle(f),
    retire: src.retire ? () => src.retire!() : undefined,
  };
}

/** A factory whose destinations carry, after their own devices, those `extra` makes for them. */
export function withDestinationDevices(factory: DestinationFactory, extra: (d: MigrationDestination) => Promise<readonly MigratableDevice[]>): DestinationFactory {
  return async (vm) => {
    const d = await factory(vm);
    const mine = await extra(d);
    return {
      get core() { return d.core; },
      get devices() { return [...d.devices, ...mine]; },
      resume: () => d.resume(),
    };
  };
}
