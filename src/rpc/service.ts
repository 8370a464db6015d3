/**
 * The single RPC entry point behind /etc/qubes-rpc/wyng.* (rpc/README.md).
 *
 *   qrexec → `wyng-qubes rpc wyng.OP` (dom0 login user)
 *     1. reads the qrexec environment and stdin (bounded size and time), validates both
 *     2. re-executes itself as `sudo -n wyng-qubes rpc privileged` with the validated call on
 *        stdin (or continues in-process when already root, or WYNG_QUBES_RPC_SUDO=0)
 *   privileged part:
 *     3. validates the call again, loads the profile, narrows the request against the
 *        profile's `remote` permissions — refusing anything outside them before Wyng or
 *        qubesd is touched
 *     4. runs the operation through the library API (one job at a time: the job lock); like
 *        every run, it leaves a report in reports/ (src/cli/run-report.ts, source "rpc")
 *     5. writes one audit line (audit.log)
 *   → exactly one JSON document on stdout (the CLI's `--json` shape); exit code = exitCode.
 */
import { appendAudit, type AuditRecord } from '../adapters/audit.ts';
import { currentJob } from '../adapters/lock.ts';
import { runPrivileged } from '../adapters/privileged.ts';
import { readProfiles } from '../adapters/profiles.ts';
import { lastReports } from '../adapters/reports.ts';
import type { CliIo } from '../cli/io.ts';
import { makeEnvelope, type Envelope } from '../cli/output.ts';
import type { Config } from '../core/config.ts';
import { toWqError, WqError, type ErrorRecord } from '../core/errors.ts';
import {
  formatProblem,
  narrowRequest,
  OPERATION_COMMAND,
  RPC_OPERATIONS,
  type Profile,
  type RpcOperation,
  type RpcPlan,
} from '../core/profiles.ts';
import {
  callFacts,
  MAX_REQUEST_BYTES,
  privilegedCallFrom,
  rawCallFromPrivileged,
  validateCall,
  type RawCall,
  type ValidCall,
} from '../core/rpc.ts';
import { parseReply } from '../core/remote.ts';
import { run } from '../index.ts';
import { rpcSettings } from './settings.ts';

type Stage = AuditRecord['stage'];

/** Largest privileged-part input: the request as base64 plus a few fields. */
const MAX_PRIVILEGED_INPUT = Math.ceil(MAX_REQUEST_BYTES / 3) * 4 + 4096;

function commandOf(op: RpcOperation | undefined): string {
  if (op === undefined) return 'rpc';
  return op === 'Status' ? 'status' : OPERATION_COMMAND[op];
}

function commandOfService(service: string): string {
  const op = service.slice('wyng.'.length);
  return service.startsWith('wyng.') && (RPC_OPERATIONS as readonly string[]).includes(op)
    ? commandOf(op as RpcOperation)
    : 'rpc';
}

function errorEnvelope(command: string, err: unknown): Envelope {
  const e = toWqError(err);
  return makeEnvelope(command, e.exitCode, null, [e.toRecord()]);
}

function isRoot(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}

interface Facts {
  service: string;
  profile: string;
  caller: string;
  digest: string;
}

/** Writes the audit line to audit.log (when possible) and always to the dom0 log (stderr). */
function audit(
  io: CliIo,
  config: Config,
  facts: Facts,
  envelope: Envelope,
  started: number,
  stage: Stage,
  ran: boolean,
  error = false,
): void {
  const first: ErrorRecord | undefined = envelope.errors[0];
  const outcome: AuditRecord['outcome'] = envelope.ok
    ? 'ok'
    : error
      ? 'error'
      : first?.kind === 'busy'
        ? 'busy'
        : ran
          ? 'failed'
          : 'refused';
  const record: AuditRecord = {
    time: new Date().toISOString(),
    remoteDomain: facts.caller,
    service: facts.service,
    profile: facts.profile,
    requestSha256: facts.digest,
    outcome,
    exitCode: envelope.exitCode,
    durationMs: Date.now() - started,
    stage,
    ...(first !== undefined ? { error: { kind: first.kind, message: first.message } } : {}),
  };
  const written = appendAudit(config.stateDir, record);
  io.stderr(`wyng-qubes audit${written ? '' : ' (audit.log not writable)'}: ${JSON.stringify(record)}\n`);
}

/** The profile for a remote call; details of a broken file go to the dom0 log only. */
function remoteProfile(io: CliIo, config: Config, name: string): Profile {
  let reading;
  try {
    reading = readProfiles(config.configDir);
  } catch (err) {
    io.stderr(`wyng-qubes rpc: ${toWqError(err).message}\n`);
    throw new WqError('config', 'The profiles file in dom0 cannot be used; the dom0 log has the details.');
  }
  // Per profile: a problem of another profile does not stop this one.
  const relevant = reading.problems.filter((p) => p.profile === undefined || p.profile === name);
  if (relevant.length > 0) {
    for (const p of relevant) io.stderr(`wyng-qubes rpc: ${formatProblem(reading.file, p)}\n`);
    throw new WqError('config', 'The profiles file in dom0 is invalid; the dom0 log has the details.');
  }
  const profile = Object.hasOwn(reading.profiles, name) ? reading.profiles[name] : undefined;
  if (profile === undefined) throw new WqError('input', `Unknown profile '${name}'.`);
  return profile;
}

/** `wyng.Status`: the running job and the last report of each profile this caller may see. */
function statusResult(config: Config, caller: string, io: CliIo): unknown {
  const job = currentJob(config.stateDir);
  let visible: ReadonlySet<string> = new Set();
  try {
    const reading = readProfiles(config.configDir);
    visible = new Set(
      Object.entries(reading.profiles)
        .filter(([, p]) => p.remote.operations.includes('Status'))
        .filter(([, p]) => caller === 'dom0' || p.remote.callers === undefined || p.remote.callers.includes(caller))
        .map(([n]) => n),
    );
  } catch (err) {
    io.stderr(`wyng-qubes rpc: ${toWqError(err).message}\n`);
  }
  const reports: Record<string, unknown> = {};
  for (const [profile, r] of Object.entries(lastReports(config.stateDir))) {
    if (!visible.has(profile)) continue;
    reports[profile] = {
      operation: r.operation,
      source: r.source,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      durationMs: r.durationMs,
      ok: r.ok,
      exitCode: r.exitCode,
      errors: r.errors,
    };
  }
  return { running: job === undefined ? null : { job: job.job, pid: job.pid, since: job.since }, reports };
}

/** Runs a narrowed plan through the library API. Separate so Backup/Restore need nothing more. */
export async function runPlan(
  plan: Exclude<RpcPlan, { operation: 'Status' }>,
  profile: string,
  io: CliIo,
  caller?: string,
): Promise<Envelope> {
  try {
    const origin = { source: 'rpc' as const, ...(caller !== undefined ? { caller } : {}) };
    return await run(plan.command, { ...plan.options, profile }, { env: io.env, onText: (t) => io.stderr(t), origin });
  } catch (err) {
    return errorEnvelope(plan.command, err);
  }
}

/**
 * Step 3–5 for a validated call (privileged, or in-process). Never throws.
 */
async function performCall(
  call: ValidCall,
  io: CliIo,
  config: Config,
  stage: Stage,
  started: number,
): Promise<Envelope> {
  const facts: Facts = {
    service: `wyng.${call.operation}`,
    profile: call.profile,
    caller: call.caller,
    digest: call.digest,
  };
  const command = commandOf(call.operation);
  let plan: RpcPlan;
  try {
    const profile = remoteProfile(io, config, call.profile);
    plan = narrowRequest(call.operation, call.profile, profile, call.request, call.caller);
  } catch (err) {
    const envelope = errorEnvelope(command, err);
    audit(io, config, facts, envelope, started, stage, false);
    return envelope;
  }
  if (plan.operation === 'Status') {
    const envelope = makeEnvelope('status', 0, statusResult(config, call.caller, io), []);
    audit(io, config, facts, envelope, started, stage, true);
    return envelope;
  }
  // The report is written by execute() (src/cli/run-report.ts), as for every run.
  const envelope = await runPlan(plan, call.profile, io, call.caller);
  audit(io, config, facts, envelope, started, stage, true);
  return envelope;
}

async function readInput(io: CliIo, limit: number, timeoutMs: number): Promise<Buffer> {
  try {
    return await io.readStdin(limit, timeoutMs);
  } catch (err) {
    throw err instanceof WqError ? err : new WqError('input', `Cannot read the request: ${(err as Error).message}`);
  }
}

/** Steps 1–2: the entry point qrexec starts. Returns the one document to print. */
export async function serveEntry(io: CliIo, config: Config, scriptService: string | undefined): Promise<Envelope> {
  const started = Date.now();
  const settings = rpcSettings(io.env);
  const env = io.env;
  const rawBase: Omit<RawCall, 'stdin'> = {
    scriptService,
    fullName: env.QREXEC_SERVICE_FULL_NAME,
    argument: env.QREXEC_SERVICE_ARGUMENT,
    remoteDomain: env.QREXEC_REMOTE_DOMAIN,
  };
  let stdin: Buffer;
  try {
    stdin = await readInput(io, MAX_REQUEST_BYTES, settings.stdinTimeoutMs);
  } catch (err) {
    const envelope = errorEnvelope('rpc', err);
    audit(io, config, callFacts({ ...rawBase, stdin: new Uint8Array() }), envelope, started, 'entry', false);
    return envelope;
  }
  const raw: RawCall = { ...rawBase, stdin };
  let call: ValidCall;
  try {
    call = validateCall(raw);
  } catch (err) {
    const facts = callFacts(raw);
    const envelope = errorEnvelope(commandOfService(facts.service), err);
    audit(io, config, facts, envelope, started, 'entry', false);
    return envelope;
  }
  if (settings.sudo === 'never' || (settings.sudo === 'auto' && isRoot()))
    return performCall(call, io, config, 'in-process', started);

  // Step 2: the privileged part, through one fixed sudo rule.
  const input = JSON.stringify(privilegedCallFrom(call, stdin));
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const r = await runPrivileged(settings.sudoProgram, settings.self, input, {
    env: childEnv,
    onStderr: (t) => io.stderr(t),
  });
  const facts: Facts = {
    service: `wyng.${call.operation}`,
    profile: call.profile,
    caller: call.caller,
    digest: call.digest,
  };
  const command = commandOf(call.operation);
  const reply = r.truncated ? undefined : parseReply(r.stdout);
  if (reply !== undefined) return reply;
  let envelope: Envelope;
  if (r.spawnError !== undefined) {
    io.stderr(`wyng-qubes rpc: cannot run ${settings.sudoProgram}: ${r.spawnError}\n`);
    envelope = errorEnvelope(
      command,
      new WqError('config', 'dom0 is not set up for wyng-qubes RPC (sudo is missing).'),
    );
  } else if (r.exitCode === 1 && r.stdout.trim() === '') {
    io.stderr(
      `wyng-qubes rpc: ${settings.sudoProgram} -n refused to run ${settings.self} rpc privileged (no sudoers rule?)\n`,
    );
    envelope = errorEnvelope(
      command,
      new WqError('config', 'dom0 is not set up for wyng-qubes RPC (sudo refused the privileged part).'),
    );
  } else {
    io.stderr(
      `wyng-qubes rpc: the privileged part ended with ${r.signal ?? `exit ${r.exitCode}`} and no valid JSON document\n`,
    );
    envelope = errorEnvelope(
      command,
      new WqError('internal', 'The privileged part of the service failed; the dom0 log has the details.'),
    );
  }
  audit(io, config, facts, envelope, started, 'entry', false, true);
  return envelope;
}

/** Steps 3–5 under sudo: the call as the entry point passed it, validated again. */
export async function servePrivileged(io: CliIo, config: Config): Promise<Envelope> {
  const started = Date.now();
  const settings = rpcSettings(io.env);
  let raw: RawCall;
  let call: ValidCall;
  try {
    const input = await readInput(io, MAX_PRIVILEGED_INPUT, settings.stdinTimeoutMs);
    raw = rawCallFromPrivileged(input);
  } catch (err) {
    const envelope = errorEnvelope('rpc', err);
    audit(io, config, { service: '', profile: '', caller: '', digest: '' }, envelope, started, 'privileged', false);
    return envelope;
  }
  try {
    call = validateCall(raw);
  } catch (err) {
    const envelope = errorEnvelope('rpc', err);
    audit(io, config, callFacts(raw), envelope, started, 'privileged', false);
    return envelope;
  }
  return performCall(call, io, config, 'privileged', started);
}
