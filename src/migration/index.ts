// Live migration: pre-copy, stop-and-copy, verification, transports.
// docs/migration-protocol.md describes the stream.
export {
  migrate, startMigration, MigrationSession, MigrationCancelled, MigrationEvent, MigrationEvents, MIGRATION_TRACE_CHANNELS, VerifyRefused,
  type MigrateOptions, type Progress, type MigrationStatus, type MigrationEventType,
} from "./source.js";
export { receiveMigration, MAX_RAM_PAGES, PRETOUCH_AHEAD, type ReceiveOptions, type ReceiveResult } from "./destination.js";
export {
  portPair, PortTransport, TcpTransport, listen, connect, parsePsk, isLoopback, LinkError, LOOPBACK, RECV_WINDOW,
  type Transport, type TransportAuth, type PskAuth, type CertAuth, type ListenOptions, type ConnectOptions, type Listener, type RefusedCounts,
} from "./transport.js";
export { ProtocolError, PROTOCOL_VERSION, Msg, msgName } from "./wire.js";
export type { MigrationSource, MigrationDestination, MigratableDevice, DestinationFactory, IncomingVm, MigrationReport, RoundStats, Phase, Downtime, DowntimeParts, DowntimeEstimate } from "./types.js";
export {
  guardDevice, importDeviceModule, makeUserDevices, withDevices, withDestinationDevices, UserDeviceError, MAX_USER_STATE,
  type UserDeviceContext, type UserDeviceModule,
} from "./user-device.js";
export { MachineSource, MachineDestination, machineDestinationFactory, destinationConfig, cloneConfig, type MachineDestinationOptions } from "./machine-adapter.js";
export { RamMirror, copyGuestRamOut, type GuestRamReader, type RamMirrorOptions, type MirrorSync } from "./ram-mirror.js";
