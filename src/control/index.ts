// The control channel: a local socket to a running `vmdev run` / `vmdev migrate`.
export { startControlServer, parseRequest, MAX_LINE, MAX_CONNECTIONS, MAX_TRACE_MS, MAX_TRACE_EVENTS, MAX_QUEUED, type ControlServer, type ControlTarget } from "./server.js";
export { machineControlTarget, type MachineTargetExtras } from "./machine-target.js";
export { controlRequest, type ControlAnswer } from "./client.js";
