import type { CommandName } from '../../core/options.ts';
import type { CommandHandler } from './context.ts';
import { backupCommand } from './backup.ts';
import { createCommand } from './create.ts';
import { deleteCommand } from './delete.ts';
import { listCommand } from './list.ts';
import { profilesCommand } from './profiles.ts';
import { remoteCommand } from './remote.ts';
import { rpcCommand } from './rpc.ts';
import { pruneCommand } from './prune.ts';
import { reportCommand } from './report.ts';
import { scheduleCommand } from './schedule.ts';
import { restoreCommand } from './restore.ts';
import { verifyCommand } from './verify.ts';
import { versionCommand } from './version.ts';

export type { CommandContext, CommandOutcome, CommandHandler } from './context.ts';

export const COMMAND_HANDLERS: Record<CommandName, CommandHandler> = {
  version: versionCommand,
  create: createCommand,
  list: listCommand,
  verify: verifyCommand,
  prune: pruneCommand,
  delete: deleteCommand,
  backup: backupCommand,
  restore: restoreCommand,
  profiles: profilesCommand,
  rpc: rpcCommand,
  remote: remoteCommand,
  schedule: scheduleCommand,
  report: reportCommand,
};
