import { isDeepStrictEqual } from 'node:util';
import { loadProfile, readPassphrase } from '../adapters/profiles.ts';
import type { Config } from '../core/config.ts';
import { CommonOptionsSchema, type CommandName, type CommonOptions } from '../core/options.ts';
import { mergeProfile, PROFILE_COMMANDS, type Profile } from '../core/profiles.ts';

const DEFAULTS: CommonOptions = CommonOptionsSchema.parse({});

/** For callers that cannot say which options were explicit: those that differ from the defaults. */
export function inferExplicit(options: CommonOptions): Set<string> {
  const out = new Set<string>();
  for (const [k, v] of Object.entries(options)) {
    if (!isDeepStrictEqual(v, (DEFAULTS as Record<string, unknown>)[k])) out.add(k);
  }
  return out;
}

export interface AppliedProfile {
  options: CommonOptions;
  args: string[];
  passphrase: string | undefined;
  /** The profile applied, if any (its hooks and notifiers). */
  profile?: Profile;
}

/**
 * `--profile NAME`: the profile's values under the explicit options, plus its passphrase.
 * Commands that give `--profile` their own meaning (remote, rpc, profiles, …) are left alone.
 */
export async function applyProfileOptions(
  command: CommandName,
  args: string[],
  options: CommonOptions,
  explicit: ReadonlySet<string> | undefined,
  config: Config,
): Promise<AppliedProfile> {
  const name = options.profile;
  if (name === undefined || !PROFILE_COMMANDS.has(command)) return { options, args, passphrase: undefined };
  const { profile } = loadProfile(config.configDir, name);
  const merged = mergeProfile(command, profile, options, args, explicit ?? inferExplicit(options));
  const passphrase = await readPassphrase(profile, name);
  return { ...merged, passphrase, profile };
}
