// Qubes Admin API client (qubesd): transport, typed operations, batched settings reads.
export {
  AdminClient,
  VOLUME_NAMES,
  type AdminClientOptions,
  type CreateQubeSpec,
  type DeviceApi,
  type PropertyInput,
  type VolumeName,
} from './client.ts';
export { CallLog, type CallLogEntry, type CallSummary } from './call-log.ts';
export {
  SocketTransport,
  socketTransportFromConfig,
  type QubesdTransport,
  type SocketTransportOptions,
} from './transport.ts';
export { readQubeSettings, readGlobalSettings, type ReadSettingsOptions } from './settings.ts';
export { QubesApiError, QubesTransportError } from '../../core/qubesapi/errors.ts';
export { LiveSystem, openLiveSystem, type QubesRestorePorts } from './live.ts';
