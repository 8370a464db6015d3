// The shipped library, as a consumer gets it: `npm pack` of this repository, installed from the
// tarball into a fresh project with no registry (--offline), imported by name from an .mjs file
// and run against the simulator (fake qubesd + fake Wyng); a consumer's .ts type-checks against
// the package's typings. Needs `npm run build` (dist/).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AdminClient, SocketTransport } from '../../src/adapters/qubesd/index.ts';
import { ROOT } from '../helpers/cli.ts';
import { buildSandbox, type JsonEnvelope, type Sandbox } from '../helpers/sim.ts';

const run = promisify(execFile);
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const BACKED_UP = ['personal', 'vault', 'work'];

let dir: string;
let project: string;
let installed: string;
let sim: Sandbox;
let session: string;

/** npm without the user's registry, cache or config: everything must come from the tarball. */
function npmEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: join(dir, 'home'),
    npm_config_cache: join(dir, 'npm-cache'),
    npm_config_registry: 'http://127.0.0.1:9/',
    npm_config_update_notifier: 'false',
  };
}

before(async () => {
  for (const f of ['lib.mjs', 'lib.d.ts', 'wyng-qubes.mjs'])
    assert.ok(existsSync(join(ROOT, 'dist', f)), `dist/${f} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'wq-libpkg-'));
  mkdirSync(join(dir, 'home'));
  const packed = await run(NPM, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: ROOT,
    env: npmEnv(),
  });
  const tarball = join(dir, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename);
  project = join(dir, 'consumer');
  mkdirSync(project);
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
  );
  await run(NPM, ['install', tarball, '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd: project,
    env: npmEnv(),
  });
  installed = join(project, 'node_modules', 'wyng-qubes');

  sim = await buildSandbox();
  const created = await sim.run(['create', '--dest', sim.archiveUrl, '-w', 'encrypt=off', '-u', '--json']);
  assert.equal(created.code, 0, created.stderr);
  const backup = await sim.run(['backup', '--dest', sim.archiveUrl, '-u', '--json', ...BACKED_UP]);
  assert.equal(backup.code, 0, backup.stderr);
  session = (backup.json!.result as { session: string }).session;
  // something for the plan to show: a removed qube and a changed one
  const client = new AdminClient(new SocketTransport({ socketPath: sim.qubesd.socketPath, timeoutMs: 5000 }));
  await client.removeQube('personal');
  await client.setProperty('work', 'memory', 1234);
});

after(async () => {
  await sim?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the tarball installs with no registry and brings nothing a consumer must fetch', () => {
  const pkg = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
    exports: Record<string, unknown>;
    dependencies?: Record<string, string>;
    bundleDependencies?: string[];
  };
  assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './cli', './package.json']);
  // every dependency left travels inside the tarball (zod: the typings name its types)
  for (const d of Object.keys(pkg.dependencies ?? {})) assert.ok(pkg.bundleDependencies?.includes(d), d);
  assert.deepEqual(
    readdirSync(join(project, 'node_modules')).filter((n) => !n.startsWith('.')),
    ['wyng-qubes'],
  );
  // what the package holds under dist/: the library, the CLI (its entry and chunks) and the typings, no test build
  assert.deepEqual(readdirSync(join(installed, 'dist')).sort(), [
    'chunks',
    'lib.d.ts',
    'lib.mjs',
    'types',
    'wyng-qubes.mjs',
  ]);
});

test('importing the package by name runs nothing; list and plan run against the simulator', async () => {
  const script = join(project, 'use.mjs');
  writeFileSync(
    script,
    [
      "import * as wq from 'wyng-qubes';",
      'const [dest, session] = process.argv.slice(2);',
      'const exported = Object.keys(wq).sort();',
      'const list = await wq.list({ dest });',
      "const plan = await wq.plan({ dest, session, qubes: ['personal', 'work'] });",
      "const cli = import.meta.resolve('wyng-qubes/cli');",
      'process.stdout.write(JSON.stringify({ exported, list, plan, cli }));',
    ].join('\n'),
  );
  const r = await run(process.execPath, [script, sim.archiveUrl, session], {
    cwd: project,
    env: { PATH: process.env.PATH, ...sim.env },
  });
  assert.equal(r.stderr, '');
  const out = JSON.parse(r.stdout) as { exported: string[]; list: JsonEnvelope; plan: JsonEnvelope; cli: string };
  for (const name of ['list', 'plan', 'backup', 'restore', 'verify', 'run', 'remote', 'WqError', 'exitCodeFor'])
    assert.ok(out.exported.includes(name), `exports ${name}`);

  assert.equal(out.list.ok, true, JSON.stringify(out.list.errors));
  assert.equal(out.list.command, 'list');
  const listed = out.list.result as { sessions: Array<{ id: string }>; qubes: Record<string, { newest: string }> };
  assert.deepEqual(
    listed.sessions.map((s) => s.id),
    [session],
  );
  assert.deepEqual(Object.keys(listed.qubes).sort(), BACKED_UP);
  for (const q of BACKED_UP) assert.equal(listed.qubes[q]!.newest, session, q);

  assert.equal(out.plan.ok, true, JSON.stringify(out.plan.errors));
  assert.equal(out.plan.command, 'restore');
  const plan = (out.plan.result as { plan: { qubes: Array<{ name: string; action: string; changes: unknown }> } }).plan;
  const byName = Object.fromEntries(plan.qubes.map((q) => [q.name, q]));
  assert.deepEqual(Object.keys(byName).sort(), ['personal', 'work']);
  assert.equal(byName.personal!.action, 'create');
  assert.equal(byName.work!.action, 'overwrite');
  const memory = (byName.work!.changes as { properties: Array<{ name: string; from: string | null }> }).properties.find(
    (p) => p.name === 'memory',
  );
  assert.equal(memory?.from, '1234');
  assert.equal(sim.qubesd.state.qubes.has('personal'), false, 'a plan writes nothing');

  // the library returns the document `--json` prints
  const cli = await sim.run([
    'restore',
    '--dry-run',
    '--dest',
    sim.archiveUrl,
    '--session',
    session,
    '-u',
    '--json',
    'personal',
    'work',
  ]);
  // the same document, except the pools' free bytes: the fake pools live on this machine's disk,
  // whose free space moves between the two calls
  const steady = (result: unknown): unknown =>
    JSON.parse(JSON.stringify(result), (k, v: unknown) => (k === 'free' && typeof v === 'number' ? '<free>' : v));
  assert.deepEqual(steady(out.plan.result), steady(cli.json!.result));

  // ./cli is the CLI bundle of the same package, and it runs
  assert.equal(out.cli, `file://${join(installed, 'dist', 'wyng-qubes.mjs')}`);
  const version = await run(process.execPath, [join(installed, 'dist', 'wyng-qubes.mjs'), 'version']);
  assert.match(version.stdout, /0\.\d+\.\d+/);
  // the help loads the CLI's chunks: they travel with the package
  const help = await run(process.execPath, [join(installed, 'dist', 'wyng-qubes.mjs'), '--help']);
  assert.match(help.stdout, /^Usage: wyng-qubes /);
});

test("a consumer's TypeScript type-checks against the package's typings (no skipLibCheck)", async () => {
  const src = join(project, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(
    join(src, 'consumer.ts'),
    [
      "import { list, plan, run, WqError, type Envelope, type LibraryOptions } from 'wyng-qubes';",
      "const options: LibraryOptions = { dest: 'file:/archive', qubes: ['work'], session: '20250101-000000' };",
      'export async function newest(): Promise<Record<string, string>> {',
      '  const r: Envelope = await list({ dest: options.dest });',
      '  if (!r.ok) throw new WqError(r.errors[0]?.kind ?? "internal", "list failed");',
      '  const out: Record<string, string> = {};',
      '  const result = r.result as { qubes: Record<string, { newest: string }> };',
      '  for (const [q, info] of Object.entries(result.qubes)) out[q] = info.newest;',
      '  return out;',
      '}',
      'export const p: Promise<Envelope> = plan(options, { env: {} });',
      "export const v: Promise<Envelope> = run('verify', { dest: 'file:/archive' });",
      '// the typings are real: wrong calls are errors',
      '// @ts-expect-error dest is a string',
      'list({ dest: 42 });',
      '// @ts-expect-error no such command',
      "run('format-disk');",
    ].join('\n'),
  );
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
      },
      include: ['src/**/*.ts'],
    }),
  );
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = await run(process.execPath, [tsc, '-p', join(project, 'tsconfig.json')], { cwd: project }).catch(
    (e: { stdout: string; stderr: string; code: number }) => e,
  );
  assert.equal(`${r.stdout}${r.stderr}`, '');
});
