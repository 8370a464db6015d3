import { lazyUseCase, type EntryPointCommand } from '../../app/execute.ts';
import type { UseCase } from '../../app/ports.ts';

/** The CLI's own commands: serving the qrexec services and calling them (src/rpc), loaded when they run. */
export const CLI_COMMANDS: Record<EntryPointCommand, UseCase> = {
  rpc: lazyUseCase(async () => (await import('./rpc.ts')).rpcCommand),
  remote: lazyUseCase(async () => (await import('./remote.ts')).remoteCommand),
};
