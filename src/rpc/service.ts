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
 *        every run, it leaves a report in reports/ (src/app/job.ts, source "rpc")
 *     5. writes one audit line (audit.log)
 *   → exactly one JSON document on stdout (the CLI's `--json` shape); exit code = exitCode.
 */
import { appendAudit, type AuditRecord } from '../adapters/audit.ts';
import { currentJob, tryRpcSlot } from '../adapters/lock.ts';
import { runPrivileged } from '../adapters/privileged.ts';
import { readProfiles } from '../adapters/profiles.ts';
import { lastReports } from '../adapters/reports.ts';
import { run } from '../app/library.ts';
import type { AppIo } from '../app/ports.ts';
import type { Config } from '../core/config.ts';
import { makeEnvelope, type Envelope } from '../core/envelope.ts';
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
import { printable } from '../core/names.ts';
import { parseReply } from '../core/remote.ts';
import { newReference, redactErrors, redactResult } from './redact.ts';
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
  /** reference id given to the caller with generic errors */
  ref?: string;
  /** SUDO_USER of the privileged part */
  sudoUser?: string;
}

/** Where a call ended: its stage, whether the operation ran, whether the service itself failed. */
interface AuditPoint {
  stage: Stage;
  /** the operation ran (a failure is `failed`, not `refused`) */
  ran: boolean;
  /** the service itself failed (the privileged part gave no document) */
  error?: boolean;
}

/** Writes the audit line to audit.log (when possible) and always to the dom0 log (stderr). */
function audit(io: AppIo, config: Config, facts: Facts, envelope: Envelope, started: number, at: AuditPoint): void {
  const { stage, ran, error = false } = at;
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
    ...(facts.ref !== undefined ? { ref: facts.ref } : {}),
    ...(facts.sudoUser !== undefined ? { sudoUser: facts.sudoUser } : {}),
  };
  const written = appendAudit(config.stateDir, record);
  io.stderr(`wyng-qubes audit${written ? '' : ' (audit.log not writable)'}: ${JSON.stringify(record)}\n`);
}

/** The profile for a remote call; details of a broken file go to the dom0 log only. */
function remoteProfile(io: AppIo, config: Config, name: string): Profile {
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

/**
 * `wyng.Status+PROFILE`: the running job and the last report of THAT profile only (the call
 * was narrowed against it already). A remote caller gets the report's errors redacted.
 */
function statusResult(config: Config, profileName: string, caller: string, ref: string, io: AppIo): unknown {
  const job = currentJob(config.stateDir, config.lockDir);
  const reports: Record<string, unknown> = {};
  for (const [profile, r] of Object.entries(lastReports(config.stateDir))) {
    if (profile !== profileName) continue;
    let errors = r.errors;
    if (caller !== 'dom0') {
      const red = redactErrors(r.errors, ref);
      for (const line of red.withheld) io.stderr(`wyng-qubes rpc [ref ${ref}]: ${line}\n`);
      errors = red.value;
    }
    reports[profile] = {
      operation: r.operation,
      source: r.source,
      startedAt: r.startedAt,
      finishedAt: r.finishedAt,
      durationMs: r.durationMs,
      ok: r.ok,
      exitCode: r.exitCode,
      errors,
    };
  }
  return { running: job === undefined ? null : { job: job.job, pid: job.pid, since: job.since }, reports };
}

/** Runs a narrowed plan through the library API. Separate so Backup/Restore need nothing more. */
export async function runPlan(
  plan: Exclude<RpcPlan, { operation: 'Status' }>,
  profile: string,
  io: AppIo,
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
  io: AppIo,
  config: Config,
  stage: Stage,
  started: number,
): Promise<Envelope> {
  const ref = newReference();
  const facts: Facts = {
    service: `wyng.${call.operation}`,
    profile: call.profile,
    caller: call.caller,
    digest: call.digest,
    ref,
    ...(stage === 'privileged' && io.env.SUDO_USER !== undefined ? { sudoUser: printable(io.env.SUDO_USER) } : {}),
  };
  const command = commandOf(call.operation);
  let plan: RpcPlan;
  try {
    const profile = remoteProfile(io, config, call.profile);
    plan = narrowRequest(call.operation, call.profile, profile, call.request, call.caller);
  } catch (err) {
    const envelope = errorEnvelope(command, err);
    audit(io, config, facts, envelope, started, { stage, ran: false });
    return envelope;
  }
  if (plan.operation === 'Status') {
    const envelope = makeEnvelope('status', 0, statusResult(config, call.profile, call.caller, ref, io), []);
    audit(io, config, facts, envelope, started, { stage, ran: true });
    return envelope;
  }
  // The report is written by execute() (src/app/job.ts), as for every run.
  const envelope = await runPlan(plan, call.profile, io, call.caller);
  audit(io, config, facts, envelope, started, { stage, ran: true });
  return call.caller === 'dom0' ? envelope : forCaller(envelope, ref, io);
}

/** The operation's document as a remote caller may see it; what is withheld goes to the dom0 log. */
function forCaller(envelope: Envelope, ref: string, io: AppIo): Envelope {
  const errors = redactErrors(envelope.errors, ref);
  const result = redactResult(envelope.result, ref);
  for (const line of [...errors.withheld, ...result.withheld]) io.stderr(`wyng-qubes rpc [ref ${ref}]: ${line}\n`);
  return { ...envelope, errors: errors.value, result: result.value };
}

async function readInput(io: AppIo, limit: number, timeoutMs: number): Promise<Buffer> {
  try {
    return await io.readStdin(limit, timeoutMs);
  } catch (err) {
    throw err instanceof WqError ? err : new WqError('input', `Cannot read the request: ${(err as Error).message}`);
  }
}

/**
 * The environment of the privileged part: a small allow-list (locale, time zone, temp dir,
 * PATH and wyng-qubes' own WYNG_* settings), never the rest of the qrexec daemon's environment
 * (NODE_OPTIONS, LD_*, …). Real sudo resets it further.
 */
export function privilegedEnvironment(env: AppIo['env']): Record<string, string> {
  const keep = new Set(['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR', 'HOME']);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && (keep.has(k) || /^WYNG_[A-Z0-9_]+$/.test(k))) out[k] = v;
  }
  return out;
}

/** Steps 1–2: the entry point qrexec starts. Returns the one document to print. */
export async function serveEntry(io: AppIo, config: Config, scriptService: string | undefined): Promise<Envelope> {
  const started = Date.now();
  const settings = rpcSettings(io.env);
  const env = io.env;
  const rawBase: Omit<RawCall, 'stdin'> = {
    scriptService,
    fullName: env.QREXEC_SERVICE_FULL_NAME,
    argument: env.QREXEC_SERVICE_ARGUMENT,
    remoteDomain: env.QREXEC_REMOTE_DOMAIN,
  };
  // A few RPC processes at a time, machine-wide: beyond that, `busy` at once (each process
  // costs dom0 memory, and slow callers must not pile them up).
  let slot;
  try {
    slot = await tryRpcSlot(config.stateDir, config.lockDir, settings.slots);
  } catch (err) {
    io.stderr(`wyng-qubes rpc: ${toWqError(err).message}\n`);
    const envelope = errorEnvelope(
      'rpc',
      new WqError('config', 'dom0 is not set up for wyng-qubes RPC (lock dir); the dom0 log has the details.'),
    );
    audit(io, config, callFacts({ ...rawBase, stdin: new Uint8Array() }), envelope, started, {
      stage: 'entry',
      ran: false,
      error: true,
    });
    return envelope;
  }
  if (slot === undefined) {
    const envelope = errorEnvelope(
      'rpc',
      new WqError('busy', 'Too many wyng-qubes calls are running; try again later.'),
    );
    audit(io, config, callFacts({ ...rawBase, stdin: new Uint8Array() }), envelope, started, {
      stage: 'entry',
      ran: false,
    });
    return envelope;
  }
  try {
    return await serveEntryInSlot(io, config, settings, rawBase, started);
  } finally {
    slot.release();
  }
}

async function serveEntryInSlot(
  io: AppIo,
  config: Config,
  settings: ReturnType<typeof rpcSettings>,
  rawBase: Omit<RawCall, 'stdin'>,
  started: number,
): Promise<Envelope> {
  const env = io.env;
  let stdin: Buffer;
  try {
    stdin = await readInput(io, MAX_REQUEST_BYTES, settings.stdinTimeoutMs);
  } catch (err) {
    const envelope = errorEnvelope('rpc', err);
    audit(io, config, callFacts({ ...rawBase, stdin: new Uint8Array() }), envelope, started, {
      stage: 'entry',
      ran: false,
    });
    return envelope;
  }
  const raw: RawCall = { ...rawBase, stdin };
  let call: ValidCall;
  try {
    call = validateCall(raw);
  } catch (err) {
    const facts = callFacts(raw);
    const envelope = errorEnvelope(commandOfService(facts.service), err);
    audit(io, config, facts, envelope, started, { stage: 'entry', ran: false });
    return envelope;
  }
  if (settings.sudo === 'never' || (settings.sudo === 'auto' && isRoot()))
    return performCall(call, io, config, 'in-process', started);

  // Step 2: the privileged part, through one fixed sudo rule.
  const input = JSON.stringify(privilegedCallFrom(call, stdin));
  const r = await runPrivileged(settings.sudoProgram, settings.self, input, {
    env: privilegedEnvironment(env),
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
    io.stderr(`wyng-qubes rpc: cannot run ${settings.sudoProgram}: ${r.spawnError.message}\n`);
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
  audit(io, config, facts, envelope, started, { stage: 'entry', ran: false, error: true });
  return envelope;
}

/** Steps 3–5 under sudo: the call as the entry point passed it, validated again. */
export async function servePrivileged(io: AppIo, config: Config): Promise<Envelope> {
  const started = Date.now();
  const settings = rpcSettings(io.env);
  let raw: RawCall;
  let call: ValidCall;
  try {
    const input = await readInput(io, MAX_PRIVILEGED_INPUT, settings.stdinTimeoutMs);
    raw = rawCallFromPrivileged(input);
  } catch (err) {
    const envelope = errorEnvelope('rpc', err);
    audit(io, config, { service: '', profile: '', caller: '', digest: '' }, envelope, started, {
      stage: 'privileged',
      ran: false,
    });
    return envelope;
  }
  const sudoUser = io.env.SUDO_USER !== undefined ? { sudoUser: printable(io.env.SUDO_USER) } : {};
  try {
    call = validateCall(raw);
    // Run through sudo by the entry point, the caller is a qube. dom0 (which passes every
    // `remote.callers` check) named on stdin would let any dom0 user with the sudo rule act
    // as dom0: dom0 uses the CLI.
    if (call.caller === 'dom0') {
      throw new WqError('forbidden', "The privileged part does not serve 'dom0' as a caller: use wyng-qubes in dom0.");
    }
  } catch (err) {
    const envelope = errorEnvelope('rpc', err);
    audit(io, config, { ...callFacts(raw), ...sudoUser }, envelope, started, { stage: 'privileged', ran: false });
    return envelope;
  }
  return performCall(call, io, config, 'privileged', started);
}
