// Passphrases and the key agent (design.md "Wyng contract"). The archive stores only a salted scrypt
// verifier of the passphrase; data is not really encrypted by the double. The "key agent" is a
// file under WYNG_FAKE_HOME/agents holding that verifier and an expiry time.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PyCrash, authError, inputError, readLineOrEmpty } from './context.mjs';
import { agentVisible, fakeHome, now, userId, stdinIsTTY } from './env.mjs';

const SCRYPT = { N: 1024, r: 8, p: 1 };

export function makeVerifier(pass) {
  const salt = randomBytes(16);
  return { salt: salt.toString('hex'), hash: scryptSync(pass, salt, 32, SCRYPT).toString('hex') };
}

export function checkPassphrase(auth, pass) {
  const got = scryptSync(pass, Buffer.from(auth.salt, 'hex'), 32, SCRYPT);
  const want = Buffer.from(auth.hash, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * get_passphrase(): --passcmd runs as `/bin/sh -c "/usr/bin/env -u LC_ALL CMD"`, its stdout
 * minus trailing newlines is the passphrase (>= 10 bytes); otherwise a prompt on stderr and one
 * line from stdin. `verify` (arch-init) also checks the length of typed passphrases.
 */
export function getPassphrase(ctx, { prompt = 'Enter passphrase: ', verify = false, cmd }) {
  if (cmd) {
    let out;
    try {
      out = execFileSync('/bin/sh', ['-c', `/usr/bin/env -u LC_ALL ${cmd}`], { stdio: ['inherit', 'pipe', 'inherit'] });
    } catch (e) {
      const rc = typeof e?.status === 'number' ? e.status : 1;
      ctx.errOut(`\nError code ${rc} running passcmd: ${cmd}`);
      throw new PyCrash(
        'subprocess.CalledProcessError',
        `Command '/usr/bin/env -u LC_ALL ${cmd}' returned non-zero exit status ${rc}.`,
        'get_passphrase',
        '\n* See Wyng log for details *\n',
      );
    }
    let end = out.length;
    while (end > 0 && out[end - 1] === 0x0a) end--;
    const pass = out.subarray(0, end);
    if (pass.length < 10) throw inputError('Passphrase must be 10 or more characters.');
    return pass.toString('utf8');
  }
  const attended = stdinIsTTY();
  let pass = '';
  for (let i = 0; i < 3; i++) {
    if (attended) ctx.err(prompt);
    else ctx.errOut(prompt);
    pass = readLineOrEmpty();
    if (!verify || Buffer.byteLength(pass) >= 10) break;
    ctx.errOut('Passphrase must be 10 or more characters.');
    if (i === 2 || !attended) throw inputError('Passphrase required.');
  }
  if (!attended || !verify) return pass;
  ctx.err('Re-enter passphrase: ');
  if (readLineOrEmpty() !== pass) throw inputError('Entries do not match.');
  return pass;
}

// ---- key agent -------------------------------------------------------------------------------

function agentFile(url) {
  const id = createHash('sha256').update(`${userId()}\u0000${url}`).digest('hex').slice(0, 40);
  return join(fakeHome(), 'agents', `wyng-agent-${userId()}${id}`);
}

function readAgent(url) {
  try {
    const a = JSON.parse(readFileSync(agentFile(url), 'utf8'));
    if (typeof a.expires !== 'number' || a.expires < now()) return undefined;
    return a;
  } catch {
    return undefined;
  }
}

export function cancelAgent(url) {
  rmSync(agentFile(url), { force: true });
}

function storeAgent(url, verifier, minutes) {
  const p = agentFile(url);
  mkdirSync(join(p, '..'), { recursive: true, mode: 0o700 });
  writeFileSync(p, JSON.stringify({ url, hash: verifier.hash, expires: now() + minutes * 60 }), { mode: 0o600 });
  startAgentProcess(p);
}

/**
 * With WYNG_FAKE_AGENT_PROCESS=N (seconds): like Wyng's detached `wyng_agent.py store` process,
 * a detached process inheriting Wyng's whole environment lives while the agent file does (at
 * most N s), so tests can see what an agent process would hold in /proc/PID/environ.
 */
function startAgentProcess(file) {
  const limit = Number.parseInt(process.env.WYNG_FAKE_AGENT_PROCESS ?? '', 10);
  if (!Number.isFinite(limit) || limit <= 0) return;
  const script = 'i=0; while [ -e "$1" ] && [ "$i" -lt "$2" ]; do sleep 0.2; i=$((i+1)); done';
  const child = spawn('/bin/sh', ['-c', script, 'wyng_agent.py', file, String(limit * 5)], {
    detached: true,
    stdio: 'ignore',
    env: process.env,
  });
  child.unref();
}

/**
 * Authenticates an encrypted archive: a live agent (visible in `ps`, see env.agentVisible)
 * supplies the keys without running --passcmd; else the passphrase is asked for and checked.
 * Afterwards --authmin decides what happens to the agent.
 */
export function authenticate(ctx, archive, opts) {
  const url = archive.spec;
  const authmin = Number.parseInt(opts.authmin, 10);
  if (!/^\s*[+-]?\d+\s*$/.test(opts.authmin)) {
    throw new PyCrash('ValueError', `invalid literal for int() with base 10: '${opts.authmin}'`, 'get_configs_remote');
  }
  const verifier = archive.state.auth;
  const agent = agentVisible() ? readAgent(url) : undefined;
  if (agent && verifier && agent.hash === verifier.hash) {
    if (authmin < 0) cancelAgent(url);
    else if (authmin > 0) storeAgent(url, verifier, Math.min(authmin, 60));
    return;
  }
  const pass = getPassphrase(ctx, { cmd: opts.passcmd });
  if (pass === '') throw authError('No authentication input.');
  if (!verifier || !checkPassphrase(verifier, pass)) throw authError('Could not decrypt/authenticate archive.');
  if (authmin > 0) storeAgent(url, verifier, Math.min(authmin, 60));
}
