// Hostile archives, beyond the metadata-tar and XML-syntax cases of test/e2e/restore-hostile:
// a session whose qubes.xml (sent with the fake Wyng exactly as a backup sends it) carries
// overlong values, unknown classes, references to qubes that do not exist, settings that turn
// a qube into a network provider or a disposable template, and settings aimed at dom0
// (its own properties, global properties, references to dom0). Each is refused (exit 9, no
// Admin API call), or the qube concerned fails with a clear message while the others are
// restored, or it is shown in the plan with a warning. In every case:
//   - nothing is written to dom0 (no global property, no dom0 property);
//   - no Admin API write is made that the dry-run plan did not show (the fake qubesd's write
//     calls are compared with the plan printed by `restore --dry-run --json` just before).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { CallLogEntry } from '../fakes/qubesd/index.ts';
import { FAKE_WYNG, FAKE_WYNG_LOOSE } from '../helpers/cli.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';
import { makeTgz } from '../helpers/tarball.ts';
import { waitForNewSessionSecond } from './helpers/archive-state.ts';
import {
  IN_PROGRESS,
  buildTemplateArchive,
  fromTemplate,
  pool,
  removeDir,
  requireFreshBundle,
  table,
  type TemplateArchive,
} from './helpers/scenario.ts';

let template: TemplateArchive;
before(async () => {
  requireFreshBundle();
  template = await buildTemplateArchive(1);
});
after(() => {
  if (template) removeDir(template.dir);
});

/** Sends `xml` as the qubes.xml of a new session holding personal's, vault's and work's data. */
async function sendSession(sim: Sandbox, xml: string): Promise<string> {
  const tar = join(sim.dir, 'hostile.tgz');
  writeFileSync(tar, makeTgz([{ name: 'qubes.xml', data: xml }]));
  const vols = (q: string): [string, string] => [`appvms/${q}/private.img`, `appvms/${q}/private.img`];
  const pools = new Map<string, Array<[string, string]>>();
  for (const q of ['personal', 'vault', 'work']) {
    const p = sim.qubesd.volumePath(q, 'private')!;
    const root = p.slice(0, -`/appvms/${q}/private.img`.length);
    pools.set(root, [...(pools.get(root) ?? []), vols(q)]);
  }
  const localFrom = join(sim.dir, 'hostile-vols.json');
  writeFileSync(localFrom, JSON.stringify(Object.fromEntries(pools)));
  await waitForNewSessionSecond(sim);
  const r = await execa(
    FAKE_WYNG,
    [
      `--dest=${sim.archiveUrl}`,
      '-u',
      `--local-from=${localFrom}`,
      '--tag=qubes',
      '--send-unchanged',
      `--import-other-from=wyng-qubes-metadata:|:${tar}`,
      'send',
    ],
    {
      env: { PATH: process.env.PATH, WYNG_FAKE_LOCK: sim.env.WYNG_FAKE_LOCK, ...FAKE_WYNG_LOOSE },
      extendEnv: false,
      reject: false,
    },
  );
  assert.equal(r.exitCode, 0, r.stderr);
  return /Sending backup session (\d{8}-\d{6})/.exec(r.stdout)![1]!;
}

/** Edits the domain block of `name` in a qubes.xml: its class, added/replaced properties. */
function editDomain(
  xml: string,
  name: string,
  edit: { klass?: string; props?: Record<string, string>; tags?: string[]; features?: Record<string, string> },
): string {
  const at = name === 'dom0' ? xml.indexOf('class="AdminVM"') : xml.indexOf(`<property name="name">${name}</property>`);
  assert.ok(at > 0, name);
  const start = xml.lastIndexOf('<domain ', at);
  const end = xml.indexOf('</domain>', at) + '</domain>'.length;
  let block = xml.slice(start, end);
  if (edit.klass !== undefined) block = block.replace(/class="[^"]*"/, `class="${edit.klass}"`);
  for (const [k, v] of Object.entries(edit.props ?? {})) {
    const re = new RegExp(`<property name="${k}">[^<]*</property>`);
    const line = `<property name="${k}">${v}</property>`;
    block = re.test(block) ? block.replace(re, line) : block.replace('</properties>', `${line}</properties>`);
  }
  if (edit.tags !== undefined)
    block = block.replace(
      /<tags>|<tags\/>/,
      `<tags>${edit.tags.map((t) => `<tag name="${t}"/>`).join('')}${block.includes('<tags/>') ? '</tags>' : ''}`,
    );
  if (edit.features !== undefined) {
    const f = Object.entries(edit.features)
      .map(([k, v]) => `<feature name="${k}">${v}</feature>`)
      .join('');
    block = block.includes('<features/>')
      ? block.replace('<features/>', `<features>${f}</features>`)
      : block.replace('<features>', `<features>${f}`);
  }
  return xml.slice(0, start) + block + xml.slice(end);
}

function editGlobals(xml: string, props: Record<string, string>): string {
  const start = xml.indexOf('<properties>');
  const end = xml.indexOf('</properties>', start);
  let block = xml.slice(start, end);
  for (const [k, v] of Object.entries(props)) {
    const re = new RegExp(`<property name="${k}">[^<]*</property>`);
    const line = `<property name="${k}">${v}</property>`;
    block = re.test(block) ? block.replace(re, line) : `${block}${line}`;
  }
  return xml.slice(0, start) + block + xml.slice(end);
}

interface PlanQube {
  name: string;
  action: string;
  fails: boolean;
  problems: Array<{ severity: string; message: string }>;
  changes: {
    label: unknown;
    template: unknown;
    properties: Array<{ name: string }>;
    features: Array<{ name: string }>;
    tags: Array<{ tag: string }>;
    devices: unknown[];
    firewall: unknown;
  };
}

/** What a plan allows to be written: `kind qube name` keys. */
function allowedWrites(plan: PlanQube[]): Set<string> {
  const out = new Set<string>();
  for (const q of plan) {
    if (q.fails) continue;
    const c = q.changes;
    if (q.action === 'create' || q.action === 'replace-class') out.add(`create ${q.name}`);
    if (q.action === 'replace-class') out.add(`remove ${q.name}`);
    if (c.label) out.add(`property ${q.name} label`);
    if (c.template) out.add(`property ${q.name} template`);
    for (const p of c.properties) out.add(`property ${q.name} ${p.name}`);
    for (const f of c.features) out.add(`feature ${q.name} ${f.name}`);
    for (const t of c.tags) out.add(`tag ${q.name} ${t.tag}`);
    if (c.devices.length > 0) out.add(`device ${q.name}`);
    if (c.firewall) out.add(`firewall ${q.name}`);
    out.add(`tag ${q.name} ${IN_PROGRESS}`);
  }
  return out;
}

/** The write calls as `kind qube name` keys (Create names the new qube in its payload: counted apart). */
function writeKeys(calls: CallLogEntry[]): string[] {
  return calls
    .filter((c) => c.writes)
    .map((c) => {
      const m = /^admin\.vm\.(property|feature|tag)\.(Set|Reset|Remove)$/.exec(c.method);
      if (m) return `${m[1]} ${c.dest} ${c.arg}`;
      if (/^admin\.vm\.device\.[a-z]+\.(Assign|Unassign)$/.test(c.method)) return `device ${c.dest}`;
      if (c.method === 'admin.vm.firewall.Set') return `firewall ${c.dest}`;
      if (c.method.startsWith('admin.vm.Create.')) return 'create ?';
      if (c.method === 'admin.vm.Remove') return `remove ${c.dest}`;
      if (c.method === 'admin.vm.Kill') return `kill ${c.dest}`;
      return `${c.method} ${c.dest} ${c.arg}`;
    });
}

interface Case {
  label: string;
  xml: (base: string) => string;
  args?: string[];
  expect: { code: number; failed: string[]; message: RegExp; warning?: RegExp; restored?: string[] };
}

const LONG = 'a'.repeat(70_000);
const CASES: Case[] = [
  {
    label: 'overlong property value (70 kB kernelopts)',
    xml: (x) => editDomain(x, 'personal', { props: { kernelopts: LONG } }),
    expect: {
      code: 2,
      failed: ['personal'],
      message: /its property kernelopts is \d+ bytes long, more than an Admin API call can carry/,
      restored: ['vault', 'work'],
    },
  },
  {
    label: 'overlong feature value (70 kB)',
    xml: (x) => editDomain(x, 'personal', { features: { 'service.evil': LONG } }),
    expect: {
      code: 2,
      failed: ['personal'],
      message: /its feature service\.evil is \d+ bytes long, more than an Admin API call can carry/,
      restored: ['vault', 'work'],
    },
  },
  {
    label: 'overlong tag (300 characters)',
    xml: (x) => editDomain(x, 'personal', { tags: ['t'.repeat(300)] }),
    expect: { code: 9, failed: [], message: /Refusing qubes\.xml of session .*tag/ },
  },
  {
    label: 'overlong qube name (40 characters)',
    xml: (x) => editDomain(x, 'personal', { props: { name: 'p'.repeat(40) } }),
    expect: { code: 9, failed: [], message: /Refusing qubes\.xml of session .*name/ },
  },
  {
    label: 'unknown class',
    xml: (x) => editDomain(x, 'personal', { klass: 'EvilVM' }),
    expect: { code: 9, failed: [], message: /Refusing qubes\.xml of session .*EvilVM/ },
  },
  {
    label: 'a second AdminVM',
    xml: (x) => editDomain(x, 'personal', { klass: 'AdminVM' }),
    expect: { code: 9, failed: [], message: /Refusing qubes\.xml of session .*(AdminVM|dom0)/ },
  },
  {
    label: 'netvm → a qube that does not exist',
    xml: (x) => editDomain(x, 'personal', { props: { netvm: 'ghost' } }),
    expect: {
      code: 2,
      failed: ['personal'],
      message: /netvm 'ghost' is neither on this system nor restored/,
      restored: ['vault', 'work'],
    },
  },
  {
    label: 'template → a qube that does not exist',
    xml: (x) => editDomain(x, 'personal', { props: { template: 'ghost' } }),
    expect: {
      code: 2,
      failed: ['personal'],
      message: /template 'ghost' is neither on this system nor restored/,
      restored: ['vault', 'work'],
    },
  },
  {
    label: 'default_dispvm → a qube that does not exist',
    xml: (x) => editDomain(x, 'vault', { props: { default_dispvm: 'ghost' } }),
    expect: {
      code: 2,
      failed: ['vault'],
      message: /default_dispvm 'ghost' is neither on this system nor restored/,
      restored: ['personal', 'work'],
    },
  },
  {
    label: 'personal becomes a network provider and vault routes through it',
    xml: (x) =>
      editDomain(editDomain(x, 'personal', { props: { provides_network: 'True' } }), 'vault', {
        props: { netvm: 'personal' },
      }),
    expect: {
      code: 0,
      failed: [],
      message: /^$/,
      warning: /personal.*network provider/,
      restored: ['personal', 'vault', 'work'],
    },
  },
  {
    label: 'personal becomes a disposable template and work uses it',
    xml: (x) =>
      editDomain(editDomain(x, 'personal', { props: { template_for_dispvms: 'True' } }), 'work', {
        props: { default_dispvm: 'personal' },
      }),
    expect: {
      code: 0,
      failed: [],
      message: /^$/,
      warning: /personal.*disposable template/,
      restored: ['personal', 'vault', 'work'],
    },
  },
  {
    label: 'netvm → dom0',
    xml: (x) => editDomain(x, 'personal', { props: { netvm: 'dom0' } }),
    expect: {
      code: 2,
      failed: ['personal'],
      message: /its netvm is dom0, which can only be a guivm or audiovm: refused/,
      restored: ['vault', 'work'],
    },
  },
  {
    label: 'dom0 properties and global properties in the archive',
    xml: (x) =>
      editGlobals(editDomain(x, 'dom0', { props: { default_user: 'evil', kernelopts: 'init=/bin/sh' } }), {
        clockvm: 'personal',
        updatevm: 'personal',
        default_netvm: 'personal',
        default_template: 'personal',
      }),
    expect: { code: 0, failed: [], message: /^$/, restored: ['personal', 'vault', 'work'] },
  },
  {
    label: 'restore dom0 by name',
    xml: (x) => x,
    args: ['dom0', 'personal'],
    expect: { code: 2, failed: ['dom0'], message: /Qube 'dom0' is not in session/, restored: ['personal'] },
  },
];

interface Outcome {
  code: number;
  failed: string[];
  message: string;
  warnings: string[];
  problems: string[];
}

async function runCase(c: Case): Promise<Outcome> {
  const sim = await buildSandbox(fromTemplate(template));
  const problems: string[] = [];
  try {
    const session = await sendSession(sim, c.xml(sim.qubesd.dumpQubesXml()));
    const names = c.args ?? ['personal', 'vault', 'work'];
    const base = [
      'restore',
      '--dest',
      sim.archiveUrl,
      '-u',
      '--allow-reach=all',
      '--json',
      '--no-qubes-post',
      '--session',
      session,
    ];
    const mark0 = sim.qubesd.callLog.length;
    const dry = await sim.run([...base, '--dry-run', ...names], { env: { TZ: 'UTC' } });
    const dryWrites = sim.qubesd.callLog.slice(mark0).filter((x) => x.writes);
    if (dryWrites.length > 0) problems.push(`the dry run wrote: ${writeKeys(dryWrites).join(', ')}`);
    const plan = ((dry.json?.result as { plan?: { qubes: PlanQube[] } } | null)?.plan?.qubes ?? []) as PlanQube[];
    const warnings = plan.flatMap((q) =>
      q.problems.filter((p) => p.severity === 'warning').map((p) => `${q.name}: ${p.message}`),
    );

    const mark = sim.qubesd.callLog.length;
    const r = await sim.run([...base, ...names], { env: { TZ: 'UTC' } });
    const calls = sim.qubesd.callLog.slice(mark);
    const doc = r.json;
    if (doc === undefined) problems.push('no JSON document');
    const failed = [
      ...new Set((doc?.errors ?? []).map((e) => e.qube).filter((q): q is string => q !== undefined)),
    ].sort();
    const message = (doc?.errors ?? []).map((e) => e.message).join(' | ');

    // nothing aimed at dom0: no global property, no property/feature/tag of dom0
    const toDom0 = calls.filter(
      (x) =>
        x.writes &&
        (x.method.startsWith('admin.property.') || (x.dest === 'dom0' && !x.method.startsWith('admin.vm.Create.'))),
    );
    if (toDom0.length > 0) problems.push(`writes to dom0: ${toDom0.map((x) => `${x.method}+${x.arg}`).join(', ')}`);
    // every write was in the plan
    const allowed = allowedWrites(plan);
    const creates = plan.filter((q) => !q.fails && (q.action === 'create' || q.action === 'replace-class')).length;
    const keys = writeKeys(calls);
    const extra = keys.filter((k) => k !== 'create ?' && !k.startsWith('kill ') && !allowed.has(k));
    if (extra.length > 0) problems.push(`writes the plan did not show: ${[...new Set(extra)].join(', ')}`);
    if (keys.filter((k) => k === 'create ?').length > creates) problems.push('more creates than planned');
    if (c.expect.code === 9 && calls.length > 0)
      problems.push(`${calls.length} Admin API call(s) for a refused archive`);
    if (c.expect.warning !== undefined && !warnings.some((w) => c.expect.warning!.test(w)))
      problems.push(`no plan warning matching ${c.expect.warning}`);
    for (const q of c.expect.restored ?? []) {
      const o = ((doc?.result as { qubes?: Array<{ name: string; status: string }> } | null)?.qubes ?? []).find(
        (x) => x.name === q,
      );
      if (o?.status !== 'restored') problems.push(`${q} not restored (${o?.status ?? 'absent'})`);
    }
    return { code: r.code, failed, message, warnings, problems };
  } finally {
    await sim.stop();
  }
}

test(
  `hostile qubes.xml in an archive: ${CASES.length} cases refused, failed or warned, ` +
    'nothing unplanned written, nothing to dom0',
  { timeout: 600_000 },
  async () => {
    const outcomes = await pool(CASES, 4, runCase);
    const rows = CASES.map((c, i) => {
      const o = outcomes[i]!;
      const ok =
        o.code === c.expect.code &&
        o.failed.join() === c.expect.failed.join() &&
        c.expect.message.test(o.message) &&
        o.problems.length === 0;
      return { c, o, ok };
    });
    const text = table(
      ['archive carries', 'exit', 'failed', 'message / plan warning', 'ok'],
      rows.map(({ c, o, ok }) => [
        c.label,
        String(o.code),
        o.failed.join(',') || '-',
        o.message || o.warnings.join(' | ') || '-',
        ok ? 'yes' : `NO ${o.problems.join('; ')}`,
      ]),
      110,
    );
    process.stdout.write(`\nHostile qubes.xml (expected vs actual):\n${text}\n`);
    assert.deepEqual(
      rows
        .filter((r) => !r.ok)
        .map(
          ({ c, o }) =>
            `${c.label}: exit ${o.code} (want ${c.expect.code}), ` +
            `failed [${o.failed.join(', ')}] (want [${c.expect.failed.join(', ')}]), ` +
            `message '${o.message.slice(0, 300)}' (want ${c.expect.message}); ` +
            `warnings ${o.warnings.join(' | ')}; ${o.problems.join('; ')}`,
        ),
      [],
    );
  },
);
