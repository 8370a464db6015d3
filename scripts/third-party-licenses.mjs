#!/usr/bin/env node
// Which npm packages end up inside the bundle, and their licences. esbuild's metafile of the
// CLI entry point lists every input file that the bundle holds; each file under node_modules
// belongs to one package (its nearest node_modules/NAME or node_modules/@SCOPE/NAME folder).
// Writes, next to the bundle (dist/):
//   THIRD-PARTY-LICENSES       each bundled package: name, version, licence, its licence text
//   bundled-provides.spec      "Provides: bundled(npm(NAME)) = VERSION" lines for the RPM spec
//   bundled-licenses.txt       the spec's License: expression (ours AND each bundled licence)
//   bundled-packages.json      [{ name, version, license }] (sorted by name)
// Usage: node scripts/third-party-licenses.mjs   (also called by scripts/build.mjs)
import { build } from 'esbuild';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The package folder (relative, with "/") of a metafile input path, or undefined for our own files. */
export function packageDirOf(input) {
  const parts = input.replace(/\\/g, '/').split('/');
  const at = parts.lastIndexOf('node_modules');
  if (at < 0 || at + 1 >= parts.length) return undefined;
  const length = parts[at + 1].startsWith('@') ? 2 : 1;
  return parts.slice(0, at + 1 + length).join('/');
}

/** SPDX expression of a package.json "license" (old object/array forms too). */
function licenseOf(pkg) {
  if (typeof pkg.license === 'string') return pkg.license;
  if (pkg.license && typeof pkg.license.type === 'string') return pkg.license.type;
  if (Array.isArray(pkg.licenses)) return pkg.licenses.map((l) => l.type).join(' OR ');
  return 'UNKNOWN';
}

/** The licence text shipped in the package folder (LICENSE, LICENCE, COPYING, with any suffix). */
function licenseText(dir) {
  const name = readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|-|$)/i.test(f));
  return name === undefined ? undefined : readFileSync(join(dir, name), 'utf8').trim();
}

/** The bundled packages of these entry points, read from node_modules under root. */
export async function bundledPackages(root, entryPoints) {
  const { metafile } = await build({
    entryPoints,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node18.19',
    write: false,
    metafile: true,
    outdir: join(root, 'dist'),
    logLevel: 'error',
  });
  const dirs = new Set();
  for (const output of Object.values(metafile.outputs))
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      if (bytesInOutput === 0) continue; // tree-shaken away: not in the bundle
      const dir = packageDirOf(input);
      if (dir !== undefined) dirs.add(dir);
    }
  const byName = new Map();
  for (const dir of dirs) {
    const abs = join(root, dir);
    const pkg = JSON.parse(readFileSync(join(abs, 'package.json'), 'utf8'));
    const entry = { name: pkg.name, version: pkg.version, license: licenseOf(pkg), text: licenseText(abs) };
    const key = `${entry.name}@${entry.version}`;
    if (!byName.has(key)) byName.set(key, entry);
  }
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Writes the four files into outDir. Returns the packages. */
export async function writeThirdPartyLicenses({ root = here, entryPoints, outDir } = {}) {
  const entries = entryPoints ?? [join(root, 'src', 'main.ts')];
  const out = outDir ?? join(root, 'dist');
  const own = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const packages = await bundledPackages(root, entries);
  const missing = packages.filter((p) => p.text === undefined && p.license === 'UNKNOWN');
  if (missing.length > 0) throw new Error(`no licence found for ${missing.map((p) => p.name).join(', ')}`);
  const rule = '-'.repeat(78);
  const sections = packages.map((p) =>
    [
      rule,
      `${p.name} ${p.version}`,
      `License: ${p.license}`,
      '',
      p.text ?? `(the package ships no licence file; its package.json says ${p.license})`,
    ].join('\n'),
  );
  writeFileSync(
    join(out, 'THIRD-PARTY-LICENSES'),
    [
      `${own.name} ${own.version} is licensed under ${own.license} (see LICENSE).`,
      `Its program file bundles these ${packages.length} npm packages, each under its own licence:`,
      '',
      ...sections,
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(out, 'bundled-provides.spec'),
    packages.map((p) => `Provides:\tbundled(npm(${p.name})) = ${p.version}\n`).join(''),
  );
  // Fedora writes the licences of bundled code into License: joined with AND.
  const licences = [...new Set(packages.map((p) => p.license))].sort();
  const expression = [own.license, ...licences.filter((l) => l !== own.license)]
    .map((l) => (/\s/.test(l) ? `(${l})` : l))
    .join(' AND ');
  writeFileSync(join(out, 'bundled-licenses.txt'), `${expression}\n`);
  writeFileSync(
    join(out, 'bundled-packages.json'),
    `${JSON.stringify(
      packages.map(({ name, version, license }) => ({ name, version, license })),
      null,
      2,
    )}\n`,
  );
  return packages;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (!existsSync(join(here, 'dist'))) throw new Error('dist/ is missing: run npm run build first');
  const packages = await writeThirdPartyLicenses();
  console.log(`${packages.length} bundled packages: dist/THIRD-PARTY-LICENSES`);
}
