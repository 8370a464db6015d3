// The command names (no zod here: the CLI's help path reads this without the option model).
/** Commands of wyng-util-qubes 0.9, plus the ones wyng-qubes adds. */
export const REFERENCE_COMMANDS = [
  'create',
  'backup',
  'restore',
  'verify',
  'prune',
  'delete',
  'list',
  'version',
] as const;
export const EXTRA_COMMANDS = ['profiles', 'rpc', 'remote', 'schedule', 'report'] as const;
export const COMMANDS = [...REFERENCE_COMMANDS, ...EXTRA_COMMANDS] as const;
export type CommandName = (typeof COMMANDS)[number];
