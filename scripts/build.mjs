#!/usr/bin/env node
// Builds ONE self-contained executable: dist/wyng-qubes.mjs (all dependencies bundled),
// so dom0 needs nothing but `node` (>= 18.19).
import { build } from 'esbuild';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeThirdPartyLicenses } from './third-party-licenses.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const outfile = join(root, 'dist', 'wyng-qubes.mjs');
mkdirSync(dirname(outfile), { recursive: true });

await build({
  entryPoints: [join(root, 'src', 'main.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18.19',
  // whitespace and syntax only: identifiers (class and function names) stay as written
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  define: { __WYNG_QUBES_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    // CommonJS dependencies inside an ESM bundle still call require() for node built-ins.
    js: [
      '#!/usr/bin/env node',
      "import { createRequire as __wq_createRequire } from 'node:module';",
      'const require = __wq_createRequire(import.meta.url);',
    ].join('\n'),
  },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);

// The licences of the npm packages inside the bundle (dist/THIRD-PARTY-LICENSES, RPM Provides).
await writeThirdPartyLicenses({ root });
