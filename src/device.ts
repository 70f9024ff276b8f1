// What the host layer expects of every device model, whatever its kind.

/** A device model attached to a VmCore. */
export interface DeviceModel {
  /** DeviceKind of its saved state (src/state.ts). */
  readonly kind: number;
  /** Instance name, unique within a machine (e.g. "net0", "lapic3"). */
  readonly name: string;
  /** Save the device's state as an envelope blob. */
  saveState(): Uint8Array;
  /**
   * Restore from an envelope blob. Returns a Status; on any error the device
   * is left exactly as it was. Never throws for a bad blob.
   */
  restoreState(blob: Uint8Array): number;
  /** Return to the power-on state. */
  reset(): void;
}

/**
 * A device model as live migration sees it: saved state plus optional hooks
 * (src/migration/ calls them; devices implement them without importing it).
 */
export interface MigratableDevice extends DeviceModel {
  /**
   * Stop taking new work and settle in-flight work into device state (give
   * back descriptors fetched but not used, Firecracker `prepare_save`).
   * Called under the write lock, before saveState.
   */
  quiesce?(): void;
  /** Undo quiesce: the migration failed and the source runs again (called after the write lock is released). */
  resume?(): void;
  /** Announce the device's new location after resume (virtio-net VIRTIO_NET_S_ANNOUNCE). */
  announce?(): void;
  /** Frames this device dropped because of the migration (reported as framesLost). */
  framesLost?(): number;
}

/** An MSI write a device emits: address and data as the PCI function would write them. */
export interface MsiMessage {
  /** Low 32 bits of the message address (0xFEExxxxx for x86). */
  addressLo: number;
  /** High 32 bits of the message address (x2APIC extended destination). */
  addressHi: number;
  data: number;
}

/** Where a device's interrupts go; the machine wires these to the APIC router or an emulator's PIC. */
export interface InterruptSink {
  /** Deliver a message-signalled interrupt. */
  msi(msg: MsiMessage): void;
  /** Drive a level-triggered INTx line (pin A..D as 0..3). */
  intx(pin: number, level: boolean): void;
}
