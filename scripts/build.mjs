#!/usr/bin/env node
// Builds what the project ships, each entry one step below:
//   dist/wyng-qubes.mjs   the CLI: a small executable entry and, beside it, dist/chunks/*.mjs: the
//                         rest of the program (all dependencies bundled), split so that a command
//                         reads and compiles only the code it runs (`version` none of it, `--help`
//                         commander and the option model; issue 17, cold start). dom0 needs nothing
//                         but `node` (>= 18.19); the RPM installs the entry and its chunks/ folder
//                         together (/usr/lib/wyng-qubes/)
//   dist/lib.mjs          the library (package.json "exports" "."): bundled, no side effects on import
//   dist/lib.d.ts         its typings (a declaration tree under dist/types/, emitted by tsc)
//   dist/test-hooks/wyng-qubes.mjs
//                         the CLI WITH the test-only crash hook (src/core/test-hook.ts), for the
//                         reliability suite only; every other build compiles the hook out
//                         (__WYNG_QUBES_TEST_HOOKS__ = false), so nothing shipped carries it.
// `node scripts/build.mjs --release` builds only what ships (no test-hooks bundle).
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeThirdPartyLicenses } from './third-party-licenses.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const release = process.argv.includes('--release');

/** What every bundle shares. */
const common = (testHooks) => ({
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18.19',
  // whitespace and syntax only: identifiers (class and function names) stay as written
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  define: {
    __WYNG_QUBES_VERSION__: JSON.stringify(pkg.version),
    __WYNG_QUBES_TEST_HOOKS__: JSON.stringify(testHooks),
  },
  logLevel: 'warning',
});

// CommonJS dependencies inside an ESM bundle still call require() for node built-ins. The
// require function is made on first use: most chunks never call it (a createRequire per
// chunk cost ~0.4 ms each at start).
const requireShim = [
  "import { createRequire as __wq_createRequire } from 'node:module';",
  'let __wq_require;',
  'function require(id) {',
  '  __wq_require ??= __wq_createRequire(import.meta.url);',
  '  return __wq_require(id);',
  '}',
];

/**
 * The help texts (`--help`, `help COMMAND`, `COMMAND --help`), made from the command table at build
 * time: the entry prints the plain forms of those command lines without loading commander
 * (issue 17, cold start). Made by the same code the CLI runs (src/cli/words.ts helpText).
 */
async function helpTexts() {
  const tmp = mkdtempSync(join(tmpdir(), 'wq-build-help-'));
  try {
    const out = join(tmp, 'words.mjs');
    await build({
      ...common(false),
      entryPoints: [join(root, 'src', 'cli', 'words.ts')],
      outfile: out,
      banner: { js: requireShim.join('\n') },
    });
    return (await import(pathToFileURL(out).href)).allHelpTexts();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const HELP = JSON.stringify(await helpTexts());

/** The CLI: its executable entry `outfile` and the chunks/ folder beside it. */
async function buildCli(outfile, { testHooks }) {
  const outdir = dirname(outfile);
  mkdirSync(outdir, { recursive: true });
  rmSync(join(outdir, 'chunks'), { recursive: true, force: true }); // no stale chunk of an earlier build
  await build({
    ...common(testHooks),
    define: { ...common(testHooks).define, __WYNG_QUBES_HELP__: HELP },
    entryPoints: [{ in: join(root, 'src', 'main.ts'), out: basename(outfile, '.mjs') }],
    outdir,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    banner: { js: requireShim.join('\n') },
  });
  // the interpreter line on the entry only (the chunks are imported, never run)
  writeFileSync(outfile, `#!/usr/bin/env node\n${readFileSync(outfile, 'utf8')}`);
  chmodSync(outfile, 0o755);
}

/** The library: src/index.ts, bundled; importing it only defines things. */
async function buildLibrary() {
  await build({
    ...common(false),
    entryPoints: [join(root, 'src', 'index.ts')],
    outfile: join(dist, 'lib.mjs'),
    banner: { js: requireShim.join('\n') },
  });
}

/**
 * The library's typings: tsc emits the declaration tree of src/index.ts into dist/types/
 * (tsconfig.lib.json; incremental, its state in dist/.types.tsbuildinfo); the sources import
 * with `.ts` extensions, which the declarations keep, so relative specifiers are rewritten to
 * `.js` (what a consumer's resolver maps to `.d.ts`). Declarations of source files that no
 * longer exist are removed. dist/lib.d.ts re-exports the tree's index.
 */
function buildTypings() {
  const out = join(dist, 'types');
  const buildInfo = join(dist, '.types.tsbuildinfo');
  if (!existsSync(out)) rmSync(buildInfo, { force: true }); // tsc would not re-emit the missing tree
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [
    '-p',
    join(root, 'tsconfig.lib.json'),
    '--outDir',
    out,
    '--incremental',
    '--tsBuildInfoFile',
    buildInfo,
  ];
  execFileSync(process.execPath, [tsc, ...args], { stdio: 'inherit' });
  const relativeTs = /((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g;
  const walk = (dir, rel) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p, join(rel, e.name));
      else if (!e.name.endsWith('.d.ts')) continue;
      else if (!existsSync(join(root, 'src', rel, e.name.replace(/\.d\.ts$/, '.ts')))) rmSync(p);
      else writeFileSync(p, readFileSync(p, 'utf8').replace(relativeTs, '$1$2.js$3'));
    }
  };
  walk(out, '');
  writeFileSync(join(dist, 'lib.d.ts'), "export * from './types/index.js';\n");
}

await buildCli(join(dist, 'wyng-qubes.mjs'), { testHooks: false });
await buildLibrary();
buildTypings();
if (!release) await buildCli(join(dist, 'test-hooks', 'wyng-qubes.mjs'), { testHooks: true });
else rmSync(join(dist, 'test-hooks'), { recursive: true, force: true });

// The licences of the npm packages inside the bundle (dist/THIRD-PARTY-LICENSES, RPM Provides).
await writeThirdPartyLicenses({ root });
