// The fake qubesd: a protocol-faithful stand-in for the Qubes Admin API daemon (qubesd), seeded
// from a qubes.xml. See test/fakes/qubesd/README.md.
export {
  startFakeQubesd,
  rawCall,
  DEFAULT_HOST,
  type FakeQubesd,
  type FakeQubesdOptions,
  type Faults,
  type CallLogEntry,
} from './server.ts';
export { encodeRequest, parseRequest, encodeOk, encodeException } from './wire.ts';
export { NOT_IMPLEMENTED, LAB_PCI_DEVICES } from './api.ts';
export type { AppState, ApiVersion, ExposedDevice, Qube, Volume } from './model.ts';
