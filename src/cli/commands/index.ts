import type { EntryPointCommand } from '../../app/execute.ts';
import type { UseCase } from '../../app/ports.ts';
import { remoteCommand } from './remote.ts';
import { rpcCommand } from './rpc.ts';

/** The CLI's own commands: serving the qrexec services and calling them (src/rpc). */
export const CLI_COMMANDS: Record<EntryPointCommand, UseCase> = {
  rpc: rpcCommand,
  remote: remoteCommand,
};
