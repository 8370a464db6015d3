// Property-based fuzz (fast-check, >= 10,000 cases each) of three untrusted inputs, read by
// the product's own readers: profiles.yaml (readProfiles: js-yaml + zod), the stdout of
// `wyng --json list` (parseWyngListOutput + buildArchiveModel) and qubes.xml (parseQubesXml).
// Inputs are random text/bytes, structured documents with wrong and right types, and mutants
// of valid documents. Each either yields a result that holds the reader's guarantees or is
// refused with a WqError — never another exception. (RPC argument + stdin fuzz:
// test/unit/profiles-rpc-fuzz.test.ts; the CLI and profiles through the CLI: fuzz-cli.test.ts.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { dump as dumpYaml } from 'js-yaml';
import { readProfiles } from '../../src/adapters/profiles.ts';
import { buildArchiveModel, METADATA_VOLUME, parseWyngListOutput } from '../../src/core/archive.ts';
import { WqError } from '../../src/core/errors.ts';
import { isValidQubeName } from '../../src/core/names.ts';
import { PROFILE_NAME } from '../../src/core/profiles.ts';
import { QUBE_CLASSES } from '../../src/core/qubes/model.ts';
import { parseQubesXml } from '../../src/core/qubesxml/index.ts';
import { SCENARIO_QUBES_XML } from '../helpers/sim.ts';
import { removeDir } from './helpers/scenario.ts';

const SEED = Number(process.env.WYNG_QUBES_FUZZ_SEED ?? 20251128);
const dir = mkdtempSync(join(tmpdir(), 'wq-fuzz-'));
after(() => removeDir(dir));

/** Runs `fn`; a WqError is a refusal, anything else thrown is a crash (fails the property). */
function refusedOr<T>(fn: () => T): { ok: true; value: T } | { ok: false; error: WqError } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    if (err instanceof WqError) {
      assert.ok(err.message.length > 0 && err.message.length < 2000, `a clear message (${err.message.length} chars)`);
      return { ok: false, error: err };
    }
    throw new Error(
      `not a WqError: ${err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err)}`,
    );
  }
}

/** Random edits of a text: delete, insert, replace, duplicate a slice; hostile fragments too. */
function mutants(base: string, fragments: readonly string[]): fc.Arbitrary<string> {
  const edit = fc.record({
    at: fc.nat(),
    len: fc.nat({ max: 40 }),
    op: fc.constantFrom('delete', 'insert', 'replace', 'duplicate', 'fragment'),
    text: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...fragments)),
  });
  return fc.array(edit, { minLength: 1, maxLength: 6 }).map((edits) => {
    let s = base;
    for (const e of edits) {
      const at = e.at % (s.length + 1);
      const end = Math.min(s.length, at + e.len);
      switch (e.op) {
        case 'delete':
          s = s.slice(0, at) + s.slice(end);
          break;
        case 'insert':
          s = s.slice(0, at) + e.text + s.slice(at);
          break;
        case 'replace':
          s = s.slice(0, at) + e.text + s.slice(end);
          break;
        case 'duplicate':
          s = s.slice(0, end) + s.slice(at, end) + s.slice(end);
          break;
        default:
          s = s.slice(0, at) + fragments[e.at % fragments.length] + s.slice(at);
      }
    }
    return s;
  });
}

const qubeNameArb = fc.oneof(
  fc.constantFrom(
    'work',
    'personal',
    'vault',
    'dom0',
    'sys-net',
    'fedora-41',
    'disp42',
    '',
    '1bad',
    'a'.repeat(32),
    'none',
    'default',
    '..',
    'x y',
    'wörk',
    '-x',
  ),
  fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_.-]{0,33}$/),
  fc.string({ maxLength: 40 }),
);

// ---- profiles.yaml -------------------------------------------------------------------------

const VALID_PROFILES =
  `profiles:
  nightly:
    description: Nightly backup
    dest: file:/mnt/backup/wyng
    passphrase_file: /etc/wyng-qubes/nightly.pass
    qubes: [work, personal]
    includes: false
    exclude: [vault]
    options: { dedup: true, autoprune: "on", check_after_send: true, pool: vm-pool, authmin: 5, ` +
  `meta_dir: /var/lib/wyng, wyng_options: [compression=zstd:3] }
    remote: { operations: [Backup, List, Restore], restore_qubes: [work], callers: [mgmt] }
    schedule: "*-*-* 02:00:00"
    notify: { desktop: failure, command: [/usr/bin/logger, -t, wyng] }
    hooks: { before: [/usr/bin/true], after: [/usr/bin/true], timeout_s: 60 }
  weekly:
    dest: ssh://backup@host/srv/wyng
    includes: true
`;
const YAML_FRAGMENTS = [
  '\n',
  ': ',
  '- ',
  '{',
  '}',
  '[',
  ']',
  '&a ',
  '*a',
  '!!binary ',
  '!!js/function "x"',
  '!!python/object:os.system',
  '<<: *a',
  '"\\u0000"',
  '\t',
  '---\n',
  '...\n',
  '? ',
  '|\n',
  '%TAG ! tag:x',
  '~',
  '0x7fffffffffffffffffff',
  '1e999',
  'profiles:',
  '  dest: ',
  'qubes: [dom0]',
];

const anyScalar = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const argvArb = fc.oneof(
  fc.array(fc.oneof(fc.constantFrom('/usr/bin/true', 'true', '/bin/sh', '-c', ''), fc.string({ maxLength: 20 })), {
    maxLength: 4,
  }),
  anyScalar,
);
const profileArb = fc.record(
  {
    description: fc.oneof(fc.string({ maxLength: 60 }), anyScalar),
    dest: fc.oneof(
      fc.constantFrom('file:/mnt/x', 'ssh://h/p', 'qubes://vm/p', 'file:', 'http://x', '/mnt/x', 'file:/a b'),
      fc.string({ maxLength: 30 }),
      anyScalar,
    ),
    passphrase_file: fc.oneof(fc.constantFrom('/etc/p', 'p', '/'), anyScalar),
    passphrase_command: argvArb,
    qubes: fc.oneof(fc.array(qubeNameArb, { maxLength: 5 }), anyScalar),
    includes: fc.oneof(fc.boolean(), anyScalar),
    exclude: fc.oneof(fc.array(qubeNameArb, { maxLength: 3 }), anyScalar),
    options: fc.oneof(
      fc.record(
        {
          dedup: fc.oneof(fc.boolean(), anyScalar),
          autoprune: fc.oneof(fc.constantFrom('off', 'on', 'full', 'yes'), anyScalar),
          pool: fc.oneof(fc.constantFrom('vm-pool', 'a b', '../x'), anyScalar),
          authmin: fc.oneof(fc.integer({ min: -5, max: 100 }), anyScalar),
          meta_dir: fc.oneof(fc.constantFrom('/var/lib/wyng', 'rel'), anyScalar),
          wyng_options: fc.oneof(
            fc.array(
              fc.oneof(
                fc.constantFrom('compression=zstd', 'dest=file:/x', 'passcmd=sh', 'encrypt=off'),
                fc.string({ maxLength: 20 }),
              ),
              { maxLength: 3 },
            ),
            anyScalar,
          ),
          extra: anyScalar,
        },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
    remote: fc.oneof(
      fc.record(
        {
          operations: fc.oneof(
            fc.array(fc.constantFrom('Backup', 'Restore', 'Verify', 'List', 'Prune', 'Status', 'Delete', 'backup'), {
              maxLength: 4,
            }),
            anyScalar,
          ),
          restore_qubes: fc.oneof(fc.array(qubeNameArb, { maxLength: 3 }), anyScalar),
          callers: fc.oneof(fc.array(qubeNameArb, { maxLength: 3 }), anyScalar),
        },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
    schedule: fc.oneof(fc.constantFrom('daily', '*-*-* 02:00:00', 'Mon..Fri 3:00', '$(reboot)'), anyScalar),
    notify: fc.oneof(
      fc.record(
        { desktop: fc.oneof(fc.constantFrom('never', 'failure', 'always', 'loud'), anyScalar), command: argvArb },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
    hooks: fc.oneof(
      fc.record(
        { before: argvArb, after: argvArb, timeout_s: fc.oneof(fc.integer({ min: -1, max: 100_000 }), anyScalar) },
        { requiredKeys: [] },
      ),
      anyScalar,
    ),
  },
  { requiredKeys: [] },
);
const profilesDocArb = fc.oneof(
  fc.record({
    profiles: fc.dictionary(
      fc.oneof(fc.constantFrom('nightly', 'weekly', 'Bad', '-x', 'a'.repeat(70), ''), fc.string({ maxLength: 20 })),
      profileArb,
      { maxKeys: 3 },
    ),
  }),
  fc.record({ profiles: anyScalar, other: anyScalar }, { requiredKeys: [] }),
  fc.anything(),
);
const profilesYamlArb: fc.Arbitrary<string | Buffer> = fc.oneof(
  { weight: 5, arbitrary: profilesDocArb.map((d) => dumpYaml(d, { skipInvalid: true })) },
  { weight: 4, arbitrary: mutants(VALID_PROFILES, YAML_FRAGMENTS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      'profiles:',
      'profiles: []',
      'a: &a [*a, *a]\nprofiles: {}',
      'profiles:\n  x: &x {dest: "file:/x"}\n  y: *x\n',
      'profiles: {}\nprofiles: {}\n',
      '!!js/undefined',
    ),
  },
);

test('fuzz: 12,000 profiles.yaml files — valid profiles or located problems, never a crash', () => {
  const file = join(dir, 'profiles.yaml');
  let valid = 0;
  let withProblems = 0;
  fc.assert(
    fc.property(profilesYamlArb, (text) => {
      writeFileSync(file, text, { mode: 0o600 });
      const r = refusedOr(() => readProfiles(dir));
      if (!r.ok) {
        assert.equal(r.error.kind, 'config');
        withProblems += 1;
        return;
      }
      for (const p of r.value.problems) assert.ok(p.message.length > 0, 'every problem says what is wrong');
      if (r.value.problems.length > 0) withProblems += 1;
      for (const [name, p] of Object.entries(r.value.profiles)) {
        valid += 1;
        assert.match(name, PROFILE_NAME);
        assert.match(p.dest, /^(file:\/|ssh:\/\/|qubes:\/\/|qubes-ssh:\/\/)\S+$/);
        for (const q of [...p.qubes, ...p.exclude, ...p.remote.restore_qubes]) assert.ok(isValidQubeName(q), q);
        assert.ok(!p.remote.restore_qubes.includes('dom0'));
        for (const argv of [p.passphrase_command, p.hooks?.before, p.hooks?.after, p.notify?.command])
          if (argv !== undefined) assert.ok(argv[0]!.startsWith('/'));
      }
    }),
    { numRuns: 12_000, seed: SEED },
  );
  assert.ok(valid > 300, `enough valid profiles generated (${valid})`);
  assert.ok(withProblems > 3000, `enough invalid files generated (${withProblems})`);
});

// ---- `wyng --json list` ----------------------------------------------------------------------

const sessionKeyArb = fc.oneof(
  {
    weight: 40,
    arbitrary: fc
      .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
      .map((d) => `S_${d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'S_',
      'S_2025',
      '20250101-000000',
      'S_20250101-000000x',
      'S_../../x',
      '__proto__',
      'constructor',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);
const volumeNameArb = fc.oneof(
  qubeNameArb.map((q) => `appvms/${q}/private.img`),
  qubeNameArb.map((q) => `vm-templates/${q}/root.img`),
  qubeNameArb.map((q) => `vm-${q}-private`),
  qubeNameArb.map((q) => `vm-${q}-root`),
  fc.constant(METADATA_VOLUME),
  fc.constantFrom('__proto__', 'constructor', '', 'appvms//private.img', '../x', 'appvms/a/b/private.img'),
  fc.string({ maxLength: 40 }),
);
/** Mostly the valid arbitrary, sometimes the hostile one. */
function mostly<T>(valid: fc.Arbitrary<T>, hostile: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 19, arbitrary: valid }, { weight: 1, arbitrary: hostile });
}
const numberish = fc.oneof(fc.integer(), fc.double(), fc.constant(null), fc.string({ maxLength: 5 }), fc.boolean());
const wyngSessionArb = mostly(
  fc.record({
    volsize: fc.nat(),
    sequence: fc.integer({ min: -1, max: 99 }),
    ts: fc.oneof(fc.nat(), fc.constant(null)),
    chg: fc.boolean(),
    tags: fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 20 }), { maxKeys: 3 }),
  }),
  fc.record(
    {
      volsize: numberish,
      sequence: numberish,
      ts: numberish,
      chg: numberish,
      tags: fc.oneof(fc.dictionary(fc.string(), fc.anything(), { maxKeys: 2 }), numberish),
    },
    { requiredKeys: [] },
  ),
);
const wyngVolumeArb = fc.record({
  vid: mostly(fc.stringMatching(/^Vol_[0-9a-f]{6}$/), fc.anything()),
  desc: mostly(fc.constant(''), fc.anything()),
  last: fc.oneof(fc.constant('None'), sessionKeyArb),
  ts: mostly(fc.oneof(fc.nat(), fc.constant(null)), fc.anything()),
  sessions: mostly(fc.dictionary(sessionKeyArb, wyngSessionArb, { maxKeys: 4 }), fc.anything()),
});
const listDocArb = fc.record(
  {
    wversion: mostly(
      fc.constant('0.8 rc4'),
      fc.oneof(fc.constantFrom('0.8', '0.9 beta', '0.7', '1.0', '', 'x', '0.8.1'), fc.anything()),
    ),
    fver: mostly(fc.constant(3), fc.anything()),
    wdate: mostly(
      fc.constant('20251028'),
      fc.oneof(fc.constantFrom('20250819', '2025', '99999999', ''), fc.anything()),
    ),
    uuid: mostly(fc.uuid(), fc.anything()),
    updated_at: mostly(
      fc.oneof(fc.constant('1795405621.4318166'), fc.double(), fc.string({ maxLength: 10 })),
      fc.anything(),
    ),
    encrypted: mostly(fc.boolean(), fc.anything()),
    is_auth: mostly(fc.boolean(), fc.anything()),
    url: mostly(fc.constant('file:/x'), fc.anything()),
    volumes: mostly(fc.dictionary(volumeNameArb, wyngVolumeArb, { maxKeys: 8 }), fc.anything()),
  },
  { requiredKeys: ['wversion', 'wdate', 'updated_at', 'url', 'volumes'] },
);
const REAL_LIST = (() => {
  const doc = {
    wversion: '0.8 rc4',
    fver: 3,
    wdate: '20251028',
    uuid: '81b88a03-0000-4000-8000-000000000000',
    updated_at: '1795405621.4318166',
    encrypted: false,
    is_auth: false,
    url: 'file:/x',
    volumes: {
      'appvms/work/private.img': {
        vid: 'Vol_47f104',
        desc: '',
        last: 'S_20261123-034701',
        ts: 1,
        sessions: { 'S_20261123-034701': { volsize: 67108864, sequence: 1, ts: 1, chg: true, tags: { qubes: '' } } },
      },
      [METADATA_VOLUME]: {
        vid: 'Vol_47f105',
        desc: '',
        last: 'S_20261123-034701',
        ts: 1,
        sessions: { 'S_20261123-034701': { volsize: 10240, sequence: 1, ts: 1, chg: true, tags: { qubes: '' } } },
      },
    },
  };
  return (
    `Wyng 0.8 rc4 release 20251028\nUn-encrypted archive 'file:/x'\nLast updated ` +
    `2026-11-23 03:47:01.431817 (+00:00)\n\n${JSON.stringify(doc)}`
  );
})();
const bannerArb = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom(
      '',
      'Wyng 0.8 rc4 release 20251028\n\n',
      "Wyng 0.8 rc4 release 20251028\nUn-encrypted archive 'file:/x'\nUpdating metadata cache.\n\n",
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('garbage\n{not json\n', '{', 'Wyng\n\n{}\n') },
);
const listStdoutArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(bannerArb, listDocArb).map(([b, d]) => b + JSON.stringify(d)) },
  {
    weight: 3,
    arbitrary: mutants(REAL_LIST, [
      '{',
      '}',
      '"',
      ',',
      ':',
      'null',
      '"S_',
      '\n{',
      '[',
      ']',
      '"volumes"',
      '"__proto__"',
      '1e309',
      '-0',
    ]),
  },
  { weight: 1, arbitrary: fc.tuple(bannerArb, fc.json()).map(([b, j]) => b + j) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
);

test('fuzz: 12,000 `wyng --json list` outputs — a consistent archive model or an input error, never a crash', () => {
  let models = 0;
  let qubeSessions = 0;
  fc.assert(
    fc.property(listStdoutArb, (stdout) => {
      const r = refusedOr(() => buildArchiveModel(parseWyngListOutput(stdout)));
      if (!r.ok) {
        assert.ok(['input', 'wyng'].includes(r.error.kind), r.error.kind);
        return;
      }
      models += 1;
      const m = r.value;
      for (const s of m.qubesSessions) {
        assert.match(s, /^\d{8}-\d{6}$/);
        assert.ok(m.sessionVolumes[s]!.includes(METADATA_VOLUME), 'a Qubes session holds the metadata volume');
        qubeSessions += 1;
      }
      for (const [q, sessions] of Object.entries(m.qubeSessions)) {
        assert.ok(isValidQubeName(q), `qube name from a volume name: ${JSON.stringify(q)}`);
        for (const [s, vols] of Object.entries(sessions)) {
          assert.match(s, /^\d{8}-\d{6}$/);
          for (const v of vols.all)
            assert.ok(m.volumeSessions[v]!.includes(s) && m.volumeQube[v] === q, `${v}@${s} belongs to ${q}`);
        }
      }
      for (const [v, q] of Object.entries(m.volumeQube))
        assert.ok(Object.hasOwn(m.volumeSessions, v) && isValidQubeName(q));
    }),
    { numRuns: 12_000, seed: SEED },
  );
  assert.ok(models > 1000, `enough valid documents generated (${models})`);
  assert.ok(qubeSessions > 100, `enough Qubes sessions generated (${qubeSessions})`);
});

test('found by the fuzz: an updated_at outside the Date range is shown as unknown, not a crash', () => {
  for (const updated of [-8640000000000.001, 1e300, '9e15']) {
    const m = buildArchiveModel(
      parseWyngListOutput(
        JSON.stringify({ wversion: '0.8 rc4', wdate: '20251028', updated_at: updated, url: 'file:/x', volumes: {} }),
      ),
    );
    assert.equal(m.updatedAt, '');
  }
});

// ---- qubes.xml -----------------------------------------------------------------------------

const XML_FRAGMENTS = [
  '<!DOCTYPE qubes [<!ENTITY a "aaaaaaaaaa">]>',
  '&a;',
  '&lt;',
  '&#0;',
  '&#x110000;',
  '<![CDATA[x]]>',
  '<!-- c -->',
  '<?pi x?>',
  '<qubes>',
  '</qubes>',
  '<domain id="domain-99" class="AppVM">',
  '</domain>',
  '<domain class="Evil">',
  '<property name="netvm">dom0</property>',
  '<property name="provides_network">True</property>',
  '<property name="name">dom0</property>',
  '<property name="template">nonexistent</property>',
  '<tag name="x y"/>',
  '<feature name="">1</feature>',
  '<device backend-domain="sys-net" id="00_01.0"/>',
  '<properties>',
  '</properties>',
  'x'.repeat(5000),
  '\u0000',
  '\uFFFE',
  '<a><a><a><a><a><a>',
  ' xmlns:x="urn:x"',
  ' class="TemplateVM"',
  '"',
  "'",
  '>',
  '<',
];

function smallDomain(
  i: number,
  klass: string,
  name: string,
  props: Record<string, string>,
  tags: string[],
  features: Record<string, string>,
): string {
  const p = Object.entries({ name, label: 'red', qid: String(i), ...props })
    .map(([k, v]) => `<property name="${k}">${v}</property>`)
    .join('');
  const t = tags.map((x) => `<tag name="${x}"/>`).join('');
  const f = Object.entries(features)
    .map(([k, v]) => `<feature name="${k}">${v}</feature>`)
    .join('');
  return (
    `<domain id="domain-${i}" ` +
    `class="${klass}"><properties>${p}</properties><features>${f}</features><tags>${t}</tags></domain>`
  );
}
const xmlEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
const goodName = fc
  .stringMatching(/^[a-z][a-z0-9-]{0,15}$/)
  .filter((n) => n !== 'dom0' && n !== 'none' && n !== 'default');
const propArb: fc.Arbitrary<[string, string]> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.tuple(
      fc.constantFrom('template', 'netvm', 'default_dispvm'),
      fc.oneof(fc.constantFrom('fedora-41', 'dom0', 'sys-net', 'nonexistent', ''), goodName),
    ),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(
      fc.constantFrom('provides_network', 'include_in_backups', 'template_for_dispvms', 'autostart', 'debug'),
      fc.constantFrom('True', 'False'),
    ),
  },
  {
    weight: 4,
    arbitrary: fc.tuple(
      fc.constantFrom('memory', 'maxmem', 'vcpus', 'qrexec_timeout'),
      fc.integer({ min: 0, max: 1_000_000 }).map(String),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(
      fc.constantFrom('virt_mode', 'kernel', 'kernelopts', 'default_user'),
      fc.constantFrom('pvh', 'hvm', 'pv', '', 'user', '6.6.63-1.qubes.fc37.x86_64'),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.tuple(
      fc.oneof(fc.stringMatching(/^[a-z_]{1,20}$/), fc.string({ maxLength: 10 })),
      fc.string({ maxLength: 30 }),
    ),
  },
);
const smallXmlArb = fc
  .array(
    fc.record({
      klass: fc.oneof(
        { weight: 12, arbitrary: fc.constantFrom(...QUBE_CLASSES.filter((c) => c !== 'AdminVM')) },
        { weight: 1, arbitrary: fc.constantFrom('Unknown', 'appvm', '', 'AdminVM') },
      ),
      name: fc.oneof({ weight: 10, arbitrary: goodName }, { weight: 1, arbitrary: qubeNameArb }),
      props: fc.array(propArb, { maxLength: 5 }).map((ps) => Object.fromEntries(ps)),
      tags: fc.array(
        fc.oneof(
          { weight: 8, arbitrary: fc.stringMatching(/^[a-z-]{1,12}$/) },
          { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
        ),
        { maxLength: 3 },
      ),
      features: fc.dictionary(
        fc.oneof(
          { weight: 8, arbitrary: fc.stringMatching(/^[a-z.-]{1,12}$/) },
          { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
        ),
        fc.string({ maxLength: 20 }),
        { maxKeys: 3 },
      ),
    }),
    { maxLength: 5 },
  )
  .map((doms) => {
    const body = doms
      .map((d, i) =>
        smallDomain(
          i + 1,
          xmlEscape(d.klass),
          xmlEscape(d.name),
          Object.fromEntries(Object.entries(d.props).map(([k, v]) => [xmlEscape(k), xmlEscape(v)])),
          d.tags.map(xmlEscape),
          Object.fromEntries(Object.entries(d.features).map(([k, v]) => [xmlEscape(k), xmlEscape(v)])),
        ),
      )
      .join('');
    return (
      `<?xml version="1.0" encoding="utf-8"?><qubes><labels><label id="label-1" ` +
      `color="0xcc0000">red</label><label id="label-8" ` +
      `color="0x000000">black</label></labels><properties><property ` +
      `name="default_template">fedora-41</property></properties><domains><domain id="domain-0" ` +
      `class="AdminVM"><properties><property ` +
      `name="label">black</property></properties><features/><tags/></domain>${body}</domains></qubes>`
    );
  });
const LAB_XML = readFileSync(SCENARIO_QUBES_XML, 'utf8');
const SMALL_VALID =
  `<?xml version="1.0" encoding="utf-8"?><qubes><labels><label id="label-1" ` +
  `color="0xcc0000">red</label><label id="label-8" ` +
  `color="0x000000">black</label></labels><properties><property ` +
  `name="default_template">fedora-41</property></properties><domains><domain id="domain-0" ` +
  `class="AdminVM"><properties><property ` +
  `name="label">black</property></properties><features/><tags/></domain>` +
  smallDomain(1, 'TemplateVM', 'fedora-41', {}, ['created-by-dom0'], { os: 'Linux' }) +
  smallDomain(2, 'AppVM', 'work', { template: 'fedora-41', memory: '800' }, [], {}) +
  '</domains></qubes>';
const qubesXmlArb: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: smallXmlArb },
  { weight: 4, arbitrary: mutants(SMALL_VALID, XML_FRAGMENTS) },
  { weight: 1, arbitrary: mutants(LAB_XML, XML_FRAGMENTS) },
  { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }) },
);

test(
  'fuzz: 10,000 qubes.xml documents (random, generated, mutated valid ones) — a validated ' +
    'system or an input error, never a crash',
  () => {
    let systems = 0;
    let qubes = 0;
    fc.assert(
      fc.property(qubesXmlArb, (xml) => {
        const r = refusedOr(() => parseQubesXml(xml, { source: 'fuzzed qubes.xml' }));
        if (!r.ok) {
          assert.equal(r.error.kind, 'input');
          return;
        }
        systems += 1;
        const names = new Set<string>();
        for (const q of r.value.qubes) {
          qubes += 1;
          assert.ok(isValidQubeName(q.name) || (q.name === 'dom0' && q.klass === 'AdminVM'), q.name);
          assert.ok((QUBE_CLASSES as readonly string[]).includes(q.klass), q.klass);
          assert.ok(!names.has(q.name), `duplicate ${q.name}`);
          names.add(q.name);
        }
      }),
      { numRuns: 10_000, seed: SEED },
    );
    assert.ok(systems > 500, `enough valid documents parsed (${systems})`);
    assert.ok(qubes > 1000, `enough qubes parsed (${qubes})`);
  },
);
