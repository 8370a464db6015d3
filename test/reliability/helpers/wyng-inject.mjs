#!/usr/bin/env node
// Fault injection in front of the fake Wyng (test/fakes/wyng), per Wyng call: wyng-qubes runs
// this file as its Wyng; it classifies the call from argv (list, send, arch-check, receive-meta,
// receive, verify, prune, delete, arch-init), applies the matching rule of WQ_INJECT and then
// runs the fake in this same process. Without a matching rule the call is the fake's, untouched.
//
// WQ_INJECT = JSON array of rules { on: POINT, do: FAULT, ...args, once?: true }.
//   fake        { fail }      WYNG_FAKE_FAIL=fail for this call only (auth, storage5, crash, …)
//   exit        { code, stderr }  the banner, stderr text, exit code (Wyng's helper codes 10–70)
//   signal      { signal }    the call dies of that signal before doing anything
//   argparse                  an unknown option is appended (argparse: usage, exit 2)
//   lock-busy                 another live Wyng holds the machine lock (WYNG_FAKE_LOCK)
//   rm-list-file              the --local-from/--vols-from file vanishes before the call
//   corrupt-list-file         ... holds malformed JSON
//   dup-list-file             ... names one volume in two pools
//   rm-local-volume { volume } the local file of that archive volume vanishes (send list)
//   rm-archive-volume { volume } another Wyng deletes that archive volume just before the call
//   prune-first               another Wyng runs the same prune just before the call
//   next-second               the call waits until its session name (Wyng names sessions by the
//                             second) is newer than every session in the archive, as for a job
//                             started a moment later; Wyng itself crashes on a duplicate name
// `once: true` applies a rule to the first matching call only (marker files in WQ_INJECT_DIR).
// WQ_INJECT_TRACE=FILE appends one JSON line per call: the calling process (ppid), the call,
// its start and end time (ms) — to show which calls of which wyng-qubes processes overlapped.
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const FAKE = resolve(here, '..', '..', 'fakes', 'wyng');
const argv = process.argv.slice(2);

function pointOf(args) {
  const has = (a) => args.includes(a);
  if (has('send')) return 'send';
  if (has('arch-check')) return 'arch-check';
  if (has('receive')) return args.some((a) => a.startsWith('--save-to=')) ? 'receive-meta' : 'receive';
  for (const p of ['verify', 'prune', 'delete', 'arch-init', 'list']) if (has(p)) return p;
  return 'other';
}

function optionValue(name) {
  const a = argv.find((x) => x.startsWith(`--${name}=`));
  return a === undefined ? undefined : a.slice(name.length + 3);
}

function listFile() {
  return optionValue('local-from') ?? optionValue('vols-from');
}

/** Runs the fake as another Wyng process would (no faults), for races set up before the call. */
function otherWyng(args) {
  const env = { ...process.env };
  delete env.WYNG_FAKE_FAIL;
  delete env.WQ_INJECT;
  const r = spawnSync(FAKE, args, { env, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`wyng-inject: setting up the race failed (${args.join(' ')}): ${r.stderr}\n`);
    process.exit(70);
  }
}

/** Blocks until a session started now is named after every session in the archive. */
function waitForNewSessionSecond() {
  const env = { ...process.env };
  for (const k of ['WYNG_FAKE_FAIL', 'WQ_INJECT', 'WYNG_FAKE_LOG']) delete env[k];
  const r = spawnSync(FAKE, [`--dest=${optionValue('dest')}`, '-u', '--json', 'list'], { env, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`wyng-inject: reading the sessions failed: ${r.stderr}\n`);
    process.exit(70);
  }
  const doc = JSON.parse(r.stdout.slice(r.stdout.indexOf('\n{') + 1));
  const names = Object.values(doc.volumes).flatMap((v) => Object.keys(v.sessions).map((s) => s.slice(2)));
  const newest = names.sort().at(-1) ?? '';
  const p = (n) => String(n).padStart(2, '0');
  const name = (d) =>
    `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-` +
    `${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while (name(new Date()) <= newest) Atomics.wait(pause, 0, 0, 50);
}

const rules = JSON.parse(process.env.WQ_INJECT ?? '[]');
const point = pointOf(argv);
const trace = process.env.WQ_INJECT_TRACE;
if (trace !== undefined && trace !== '') {
  const start = Date.now();
  process.on('exit', (code) =>
    appendFileSync(
      trace,
      `${JSON.stringify({ ppid: process.ppid, pid: process.pid, point, start, end: Date.now(), code })}\n`,
    ),
  );
}
const markerDir = process.env.WQ_INJECT_DIR;
const rule = rules.find((r, i) => {
  if (r.on !== point) return false;
  if (!r.once) return true;
  if (markerDir === undefined) throw new Error('wyng-inject: once needs WQ_INJECT_DIR');
  const marker = join(markerDir, `inject-${i}.done`);
  if (existsSync(marker)) return false;
  writeFileSync(marker, '');
  return true;
});

if (rule !== undefined) {
  switch (rule.do) {
    case 'fake':
      process.env.WYNG_FAKE_FAIL = rule.fail;
      break;
    case 'exit':
      process.stdout.write('Wyng 0.8 rc4 release 20251028\n');
      process.stderr.write(`${rule.stderr}\n`);
      process.exit(rule.code);
      break;
    case 'signal':
      process.kill(process.pid, rule.signal);
      await new Promise(() => setInterval(() => undefined, 1000));
      break;
    case 'argparse':
      argv.push('--no-such-option');
      break;
    case 'lock-busy': {
      const lock = process.env.WYNG_FAKE_LOCK;
      if (lock === undefined) throw new Error('wyng-inject: lock-busy needs WYNG_FAKE_LOCK');
      writeFileSync(lock, `${process.pid}\n`);
      process.on('exit', () => rmSync(lock, { force: true }));
      break;
    }
    case 'rm-list-file':
      unlinkSync(listFile());
      break;
    case 'corrupt-list-file':
      writeFileSync(listFile(), '{"not json');
      break;
    case 'dup-list-file': {
      const path = listFile();
      const doc = JSON.parse(readFileSync(path, 'utf8'));
      const first = Object.values(doc).find((l) => Array.isArray(l) && l.length > 0)[0];
      doc['/nonexistent-second-pool'] = [first];
      writeFileSync(path, JSON.stringify(doc));
      break;
    }
    case 'rm-local-volume': {
      const doc = JSON.parse(readFileSync(listFile(), 'utf8'));
      let done = false;
      for (const [pool, list] of Object.entries(doc)) {
        for (const [name, alias] of list) {
          if (name === rule.volume) {
            unlinkSync(join(pool, alias || name));
            done = true;
          }
        }
      }
      if (!done) throw new Error(`wyng-inject: ${rule.volume} is not in the list file`);
      break;
    }
    case 'rm-archive-volume':
      otherWyng([`--dest=${optionValue('dest')}`, '-u', '--force', 'delete', rule.volume]);
      break;
    case 'prune-first':
      otherWyng(argv);
      break;
    case 'next-second':
      waitForNewSessionSecond();
      break;
    default:
      throw new Error(`wyng-inject: unknown fault '${rule.do}'`);
  }
}

const { main } = await import('../../fakes/wyng-impl/main.mjs');
await main(argv);
