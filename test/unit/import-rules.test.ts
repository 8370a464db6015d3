/**
 * The layer rules of src/ (docs/design.md "Architecture"), read from the import graph:
 *   core     pure: imports core only
 *   adapters imports core and adapters
 *   app      imports core, adapters and app
 *   rpc      imports anything but cli
 *   cli      imports anything but rpc — except the `rpc` and `remote` command files, which call
 *            src/rpc's public entry (src/rpc/index.ts)
 *   no entry point (src/index.ts, src/main.ts) is imported by src/, src/index.ts does not import cli,
 *   and there is no import cycle (type-only imports included).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SRC = join(ROOT, 'src');

/** Module → the local modules it imports (paths relative to the repository, `src/...`). */
type ImportGraph = Map<string, string[]>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every import/export-from/import() specifier of a file (comments and strings are not imports). */
function specifiers(text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

function readGraph(): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of sourceFiles(SRC)) {
    const from = relative(ROOT, file);
    const local = specifiers(readFileSync(file, 'utf8'))
      .filter((s) => s.startsWith('.'))
      .map((s) => relative(ROOT, resolve(dirname(file), s)));
    graph.set(from, local);
  }
  return graph;
}

type Layer = 'core' | 'adapters' | 'app' | 'cli' | 'rpc' | 'entry' | 'other';

function layerOf(path: string): Layer {
  const m = /^src\/([^/]+)\//.exec(path);
  if (m === null) return path === 'src/index.ts' || path === 'src/main.ts' ? 'entry' : 'other';
  const top = m[1]!;
  return top === 'core' || top === 'adapters' || top === 'app' || top === 'cli' || top === 'rpc' ? top : 'other';
}

const FORBIDDEN: Record<Layer, ReadonlySet<Layer>> = {
  core: new Set(['adapters', 'app', 'cli', 'rpc', 'entry']),
  adapters: new Set(['app', 'cli', 'rpc', 'entry']),
  app: new Set(['cli', 'rpc', 'entry']),
  rpc: new Set(['cli', 'entry']),
  cli: new Set(['rpc', 'entry']),
  entry: new Set(['entry']),
  other: new Set(),
};

/** cli → rpc: only these files, and only to src/rpc's public entry. */
const RPC_CALLERS = new Set(['src/cli/commands/rpc.ts', 'src/cli/commands/remote.ts']);
const RPC_ENTRY = 'src/rpc/index.ts';

function layerViolations(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const fromLayer = layerOf(from);
    for (const to of targets) {
      const toLayer = layerOf(to);
      if (fromLayer === 'cli' && toLayer === 'rpc' && RPC_CALLERS.has(from) && to === RPC_ENTRY) continue;
      if (from === 'src/index.ts' && toLayer === 'cli') out.push(`${from} → ${to} (the library must not import cli)`);
      else if (FORBIDDEN[fromLayer].has(toLayer)) out.push(`${from} → ${to} (${fromLayer} must not import ${toLayer})`);
    }
  }
  return out;
}

/** The strongly connected components with more than one module (or a self-import): Tarjan. */
function cycles(graph: ImportGraph): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) visit(v);
  return out;
}

function check(graph: ImportGraph): string[] {
  return [...layerViolations(graph), ...cycles(graph).map((c) => `import cycle: ${c.join(' ↔ ')}`)];
}

test('the import graph of src/ is read from every import form', () => {
  assert.deepEqual(
    specifiers(
      [
        "import a from './a.ts';",
        "import type { B } from './b.ts';",
        "import {\n  c,\n  d,\n} from './c.ts';",
        "export { e } from './e.ts';",
        "export * from './f.ts';",
        "import './g.ts';",
        "const h = await import('./h.ts');",
        "// import z from './z.ts';",
        'const s = "import y from \'./y.ts\'";',
      ].join('\n'),
    ),
    ['./a.ts', './b.ts', './c.ts', './e.ts', './f.ts', './g.ts', './h.ts'],
  );
  const graph = readGraph();
  assert.ok(graph.size > 50, `read ${graph.size} modules`);
  // every local import resolves to a module of src/ (no import reaches outside it)
  const missing = [...graph].flatMap(([from, to]) => to.filter((t) => !graph.has(t)).map((t) => `${from} → ${t}`));
  assert.deepEqual(missing, []);
  // the layers all exist (a renamed folder would otherwise silently pass)
  const layers = new Set([...graph.keys()].map(layerOf));
  for (const l of ['core', 'adapters', 'app', 'cli', 'rpc', 'entry'] as const) assert.ok(layers.has(l), l);
});

test('src/ keeps its layer rules and has no import cycle', () => {
  assert.deepEqual(check(readGraph()), []);
});

test('the checker flags each kind of violation (self-check on a synthetic graph)', () => {
  const graph: ImportGraph = new Map([
    ['src/core/a.ts', ['src/adapters/x.ts', 'src/app/y.ts', 'src/cli/z.ts', 'src/rpc/w.ts']],
    ['src/adapters/x.ts', ['src/core/a2.ts', 'src/app/y.ts']],
    ['src/app/y.ts', ['src/cli/z.ts', 'src/rpc/index.ts', 'src/core/a2.ts']],
    ['src/rpc/w.ts', ['src/cli/z.ts']],
    ['src/cli/z.ts', ['src/rpc/w.ts', 'src/app/y.ts']],
    ['src/cli/commands/rpc.ts', ['src/rpc/index.ts']],
    ['src/cli/commands/remote.ts', ['src/rpc/client.ts']],
    ['src/index.ts', ['src/cli/program.ts']],
    ['src/core/a2.ts', ['src/core/a3.ts']],
    ['src/core/a3.ts', ['src/core/a2.ts']],
  ]);
  const found = check(graph);
  const expected = [
    'src/core/a.ts → src/adapters/x.ts',
    'src/core/a.ts → src/app/y.ts',
    'src/core/a.ts → src/cli/z.ts',
    'src/core/a.ts → src/rpc/w.ts',
    'src/adapters/x.ts → src/app/y.ts',
    'src/app/y.ts → src/cli/z.ts',
    'src/app/y.ts → src/rpc/index.ts',
    'src/rpc/w.ts → src/cli/z.ts',
    'src/cli/z.ts → src/rpc/w.ts',
    'src/cli/commands/remote.ts → src/rpc/client.ts',
    'src/index.ts → src/cli/program.ts',
  ];
  for (const e of expected)
    assert.ok(
      found.some((f) => f.startsWith(`${e} (`)),
      `not flagged: ${e}`,
    );
  // allowed edges are not flagged
  for (const ok of [
    'src/adapters/x.ts → src/core/a2.ts',
    'src/cli/commands/rpc.ts → src/rpc/index.ts',
    'src/cli/z.ts → src/app/y.ts',
  ]) {
    assert.ok(!found.some((f) => f.startsWith(`${ok} (`)), `flagged: ${ok}`);
  }
  assert.ok(found.includes('import cycle: src/core/a2.ts ↔ src/core/a3.ts'), found.join('\n'));
  // app → cli → rpc → cli is a cycle too
  assert.ok(found.includes('import cycle: src/app/y.ts ↔ src/cli/z.ts ↔ src/rpc/w.ts'), found.join('\n'));
  assert.equal(found.length, expected.length + 2, found.join('\n'));
});
