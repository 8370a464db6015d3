// What the backup e2e tests share on top of the sandbox (test/helpers/sim.ts): reading a
// run's JSON result, the archive's Qubes view, Wyng calls by action, timestamp writes.
import type { CallLogEntry } from '../fakes/qubesd/index.ts';
import type { Sandbox, SandboxRun, WyngCall } from './sim.ts';

export interface BackupQube {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  volumes: string[];
  error?: string;
}

export interface BackupResultJson {
  session: string | null;
  qubes: BackupQube[];
  bytesSent?: number;
  seconds: number;
  timing?: { wyngMs: number; oursMs: number };
}

export interface ListJson {
  sessions: Array<{ id: string; tags: Record<string, string>; qubes: string[] }>;
  qubes: Record<string, { sessions: string[]; newest: string }>;
}

/** `list --json` through wyng-qubes */
export async function listJson(sb: Sandbox): Promise<ListJson> {
  const r = await sb.run(['list', '--dest', sb.archiveUrl, '-u', '--json']);
  if (r.code !== 0) throw new Error(`list failed (${r.code}): ${r.stderr}`);
  return r.json!.result as ListJson;
}

/** The JSON result of a backup run (throws when there is none). */
export function backupResult(r: SandboxRun): BackupResultJson {
  if (r.json === undefined) throw new Error(`no JSON document on stdout (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  if (r.json.result === null)
    throw new Error(`null result (exit ${r.code}): ${JSON.stringify(r.json.errors)}\n${r.stderr}`);
  return r.json.result as BackupResultJson;
}

export function byName(result: BackupResultJson): Record<string, BackupQube> {
  return Object.fromEntries(result.qubes.map((q) => [q.name, q]));
}

/** Wyng calls of one action (the last argv element). */
export function wyngAction(calls: readonly WyngCall[], action: string): WyngCall[] {
  return calls.filter((c) => c.argv[c.argv.length - 1] === action);
}

/** The qubes whose `backup_timestamp` a run set (Admin API property writes), sorted. */
export function timestampWrites(calls: readonly CallLogEntry[]): string[] {
  return calls
    .filter((c) => c.method === 'admin.vm.property.Set' && c.arg === 'backup_timestamp')
    .map((c) => c.dest)
    .sort();
}
