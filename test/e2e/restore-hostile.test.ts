// Hostile backup metadata end to end: a session whose `wyng-qubes-metadata` volume is a
// crafted tarball (sent with the fake Wyng exactly as a backup sends it) must be refused as a
// whole — documented exit code and a clear message, NO Admin API call at all (so no write),
// no data volume received, and nothing written anywhere but the job's private temp dir
// (which is gone afterwards).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { FAKE_WYNG, FAKE_WYNG_LOOSE } from '../helpers/cli.ts';
import { makeTar, makeTgz, type TarEntrySpec } from '../helpers/tarball.ts';
import { restoreLab, treeSnapshot, type RestoreLab } from '../helpers/restore-lab.ts';
import { buildSandbox } from '../helpers/sim.ts';

let lab: RestoreLab;
let qubesXml: string;
let canary: string;

before(async () => {
  lab = await restoreLab(await buildSandbox());
  qubesXml = lab.sim.qubesd.dumpQubesXml();
  canary = join(lab.sim.dir, 'canary.txt');
  writeFileSync(canary, 'secret outside the archive\n');
  mkdirSync(join(lab.sim.dir, 'tmp'), { recursive: true });
});

after(async () => {
  await lab?.stop();
});

let sends = 0;
/** Sends `tgz` as the metadata volume of a new session (with personal's private volume). */
async function sendHostile(tgz: Buffer, sparseSize?: number): Promise<string> {
  const { sim } = lab;
  const tar = join(sim.dir, 'hostile.tgz');
  writeFileSync(tar, tgz);
  if (sparseSize !== undefined) truncateSync(tar, sparseSize);
  const localFrom = join(sim.dir, 'hostile-vols.json');
  writeFileSync(
    localFrom,
    JSON.stringify({ [sim.qubesDir]: [['appvms/personal/private.img', 'appvms/personal/private.img']] }),
  );
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
      // one session per send (two sends in the same second would crash Wyng: duplicate session name)
      env: {
        PATH: process.env.PATH,
        WYNG_FAKE_LOCK: sim.env.WYNG_FAKE_LOCK,
        WYNG_FAKE_LOG: sim.env.WYNG_FAKE_LOG,
        ...FAKE_WYNG_LOOSE,
        WYNG_FAKE_NOW: String(Math.floor(Date.now() / 1000) + 3600 + 10 * sends++),
      },
      extendEnv: false,
      reject: false,
    },
  );
  assert.equal(r.exitCode, 0, r.stderr);
  const m = /Sending backup session (\d{8}-\d{6})/.exec(r.stdout);
  assert.ok(m, r.stdout);
  return m[1]!;
}

const ENTITY_BOMB = (() => {
  let dtd = '<!ENTITY a0 "lollollollollollollollollollol">';
  for (let i = 1; i < 10; i++) dtd += `<!ENTITY a${i} "${`&a${i - 1};`.repeat(10)}">`;
  return dtd;
})();

function withDoctype(xml: string, dtd: string, use: string): string {
  const body = xml.replace(/^<\?xml[^>]*\?>\s*/, '');
  const label = '<property name="label">yellow</property>';
  const withUse = body.replace(label, `${label}<property name="kernelopts">${use}</property>`);
  return `<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE qubes [${dtd}]>\n${withUse}`;
}

function gzipBomb(): Buffer {
  // 200 MiB of zeros in one file: about 200 KiB compressed, more than the reader ever inflates
  const zeros = Buffer.alloc(200 * 1024 * 1024);
  const tar = makeTar([{ name: 'qubes.xml', data: zeros }]);
  return gzipSync(tar, { level: 1 });
}

interface Case {
  label: string;
  tgz: () => Buffer;
  message: RegExp;
}

const qx = (): TarEntrySpec => ({ name: 'qubes.xml', data: qubesXml });
const cases: Case[] = [
  {
    label: 'path traversal ../',
    tgz: () => makeTgz([qx(), { name: '../evil.xml', data: '<x/>' }]),
    message: /Refusing backup metadata: path with '\.\.'/,
  },
  {
    label: 'nested traversal',
    tgz: () => makeTgz([qx(), { name: 'appvms/../../../evil.xml', data: '<x/>' }]),
    message: /path with '\.\.'/,
  },
  {
    label: 'absolute path',
    tgz: () => makeTgz([qx(), { name: join(lab.sim.dir, 'abs-evil.xml'), data: '<x/>' }]),
    message: /absolute path/,
  },
  {
    label: 'symlink notes.txt → a file outside',
    tgz: () => makeTgz([qx(), { name: 'appvms/personal/notes.txt', type: '2', linkname: canary }]),
    message: /is a SymbolicLink, not a regular file/,
  },
  {
    label: 'hardlink notes.txt → a file outside',
    tgz: () => makeTgz([qx(), { name: 'appvms/personal/notes.txt', type: '1', linkname: canary }]),
    message: /is a Link, not a regular file/,
  },
  {
    label: 'character device',
    tgz: () => makeTgz([qx(), { name: 'appvms/personal/firewall.xml', type: '3' }]),
    message: /CharacterDevice/,
  },
  { label: 'block device', tgz: () => makeTgz([qx(), { name: 'disk.xml', type: '4' }]), message: /BlockDevice/ },
  { label: 'FIFO', tgz: () => makeTgz([qx(), { name: 'appvms/personal/notes.txt', type: '6' }]), message: /FIFO/ },
  {
    label: '2 GiB GNU sparse file header',
    tgz: () => makeTgz([qx(), { name: 'appvms/personal/notes.txt', type: 'S', size: 2 * 1024 ** 3 }]),
    message: /entry 'appvms\/personal\/notes\.txt' is a SparseFile, not a regular file/,
  },
  {
    label: '2 GiB regular file header',
    tgz: () => gzipSync(makeTar([qx(), { name: 'appvms/personal/notes.txt', size: 2 * 1024 ** 3 }])),
    message: /larger than 33554432 bytes/,
  },
  { label: 'gzip bomb', tgz: gzipBomb, message: /Refusing backup metadata: it uncompresses to more than \d+ bytes/ },
  {
    label: 'GNU sparse file with data',
    tgz: () => makeTgz([qx(), { name: 'appvms/personal/notes.txt', type: 'S', data: Buffer.alloc(512, 0x41) }]),
    message: /is a SparseFile, not a regular file/,
  },
  {
    label: 'pax header renaming an entry to ../',
    tgz: () =>
      makeTgz([
        qx(),
        { name: 'PaxHeader', type: 'x', data: paxRecord('path', '../pax-evil.xml') },
        { name: 'innocent.xml', data: '<x/>' },
      ]),
    message: /path with '\.\.'/,
  },
  {
    label: 'GNU long name with traversal',
    tgz: () =>
      makeTgz([
        qx(),
        { name: '././@LongLink', type: 'L', data: `${'a/'.repeat(60)}../../../../../../../../../../long-evil.xml\0` },
        { name: 'short.xml', data: '<x/>' },
      ]),
    message: /path with '\.\.'|deeper|longer/,
  },
  {
    label: 'a file that is no Qubes metadata',
    tgz: () => makeTgz([qx(), { name: 'appvms/personal/evil.sh', data: '#!/bin/sh\n' }]),
    message: /unexpected file/,
  },
  {
    label: 'shell metacharacters in a name',
    tgz: () => makeTgz([qx(), { name: 'appvms/$(reboot)/notes.txt', data: 'x' }]),
    message: /characters outside/,
  },
  {
    label: 'duplicate qubes.xml',
    tgz: () => makeTgz([qx(), { name: './qubes.xml', data: qubesXml.replace('yellow', 'red') }]),
    message: /duplicate entry/,
  },
  {
    label: 'a volume record that is not one',
    tgz: () =>
      makeTgz([
        qx(),
        {
          name: 'wyng-qubes-volumes.xml',
          data:
            '<wyng-qubes-volumes version="1">' +
            '<volume name="appvms/personal/private.img" usage="-5"/></wyng-qubes-volumes>',
        },
      ]),
    message: /Refusing wyng-qubes-volumes\.xml of session .*is not <volume/,
  },
  { label: 'not gzip at all', tgz: () => Buffer.from('this is not a tarball'), message: /not a readable gzip file/ },
  {
    label: 'XML entity bomb (billion laughs)',
    tgz: () => makeTgz([{ name: 'qubes.xml', data: withDoctype(qubesXml, ENTITY_BOMB, '&a9;') }]),
    message: /Refusing qubes\.xml of session .*(DOCTYPE|DTD|entit)/i,
  },
  {
    label: 'XML external entity',
    tgz: () =>
      makeTgz([{ name: 'qubes.xml', data: withDoctype(qubesXml, `<!ENTITY x SYSTEM "file://${canary}">`, '&x;') }]),
    message: /Refusing qubes\.xml of session .*(DOCTYPE|DTD|entit)/i,
  },
  {
    label: 'invalid qube name',
    tgz: () =>
      makeTgz([
        {
          name: 'qubes.xml',
          data: qubesXml.replace(
            '<property name="name">personal</property>',
            '<property name="name">../../personal</property>',
          ),
        },
      ]),
    message: /Refusing qubes\.xml of session .*name/,
  },
  {
    label: 'qube name with a newline',
    tgz: () =>
      makeTgz([
        {
          name: 'qubes.xml',
          data: qubesXml.replace(
            '<property name="name">personal</property>',
            '<property name="name">per&#10;sonal</property>',
          ),
        },
      ]),
    message: /Refusing qubes\.xml of session .*name/,
  },
  {
    label: 'invalid label',
    tgz: () =>
      makeTgz([
        {
          name: 'qubes.xml',
          data: qubesXml.replace(
            '<property name="label">yellow</property>',
            '<property name="label">../yellow</property>',
          ),
        },
      ]),
    message: /Refusing qubes\.xml of session .*label/,
  },
  {
    label: 'a tag that qubesd would refuse',
    tgz: () =>
      makeTgz([{ name: 'qubes.xml', data: qubesXml.replace('<tag name="offline"/>', '<tag name="off line;rm"/>') }]),
    message: /Refusing qubes\.xml of session .*tag/,
  },
  {
    label: 'notes.txt larger than the cap',
    tgz: () => makeTgz([qx(), { name: 'appvms/personal/notes.txt', data: 'n'.repeat(300_000) }]),
    message: /notes\.txt of session .*larger than/,
  },
  {
    label: 'a hostile firewall rule',
    tgz: () =>
      makeTgz([
        qx(),
        {
          name: 'appvms/personal/firewall.xml',
          data:
            '<firewall version="2"><rules><rule><properties><property name="action">accept</property>' +
            '<property name="dsthost">$(reboot)</property></properties></rule></rules></firewall>',
        },
      ]),
    message: /Refusing appvms\/personal\/firewall\.xml of session/,
  },
  {
    label: 'a control character in a property value (would rewrite the terminal)',
    tgz: () =>
      makeTgz([
        {
          name: 'qubes.xml',
          data: qubesXml.replace(
            '<property name="label">yellow</property>',
            // U+009B is the one-character CSI of 8-bit terminals (ESC itself is no XML character)
            '<property name="label">yellow</property><property name="kernelopts">nopat&#155;8m</property>',
          ),
        },
      ]),
    message: /property 'kernelopts': value holds control character 0x9B, which qubesd does not accept/,
  },
  {
    label: 'a non-ASCII feature value',
    tgz: () =>
      makeTgz([
        {
          name: 'qubes.xml',
          data: qubesXml.replace('<features>', '<features><feature name="menu-items">caf\u00e9</feature>'),
        },
      ]),
    message: /value holds non-ASCII character U\+00E9/,
  },
  {
    label: 'notes.txt with an escape sequence',
    tgz: () => makeTgz([qx(), { name: 'appvms/personal/notes.txt', data: 'hello\x1b]0;owned\x07\n' }]),
    message: /notes\.txt of session .*control characters/,
  },
  {
    label: 'notes.txt that is not UTF-8',
    tgz: () => makeTgz([qx(), { name: 'appvms/personal/notes.txt', data: Buffer.from([0x68, 0xff, 0xfe, 0x0a]) }]),
    message: /notes\.txt of session .*not UTF-8/,
  },
  {
    label: 'no qubes.xml',
    tgz: () => makeTgz([{ name: 'appvms/personal/notes.txt', data: 'x' }]),
    message: /no qubes\.xml/,
  },
];

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 2;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

/** Files written by the run outside the job's temp dir (the Wyng call log and the job's state are expected). */
function changedOutside(before: Map<string, string>, after: Map<string, string>): string[] {
  // Wyng's call log and its own metadata cache (Wyng's /var/lib/wyng), the job's state
  const expected = (p: string): boolean => p === 'wyng-calls.jsonl' || /^(state|wyng-home)(\/|$)/.test(p);
  const out: string[] = [];
  for (const [p, v] of after) if (!expected(p) && before.get(p) !== v) out.push(p);
  for (const p of before.keys()) if (!after.has(p)) out.push(`${p} (removed)`);
  return out;
}

test('the crafted sessions are really in the archive (the refusals below are about their content)', async () => {
  const session = await sendHostile(makeTgz([qx()]));
  const dry = await lab.restore(['--dry-run', '--session', session, 'personal']);
  assert.equal(dry.code, 0, `${dry.stderr}\n${dry.stdout}`);
});

for (const c of cases) {
  test(`hostile metadata: ${c.label} → refused, nothing written`, async () => {
    const session = await sendHostile(c.tgz());
    const personal = readFileSync(lab.sim.qubesd.volumePath('personal', 'private')!);
    writeFileSync(lab.sim.qubesd.volumePath('personal', 'private')!, Buffer.alloc(personal.length, 0x33));
    const wyngLog = readFileSync(lab.sim.env.WYNG_FAKE_LOG!, 'utf8').split('\n').length;
    lab.sim.syncQubesXml();
    const beforeTree = treeSnapshot(lab.sim.dir);
    const m = lab.mark();

    const r = await lab.restore(['--session', session, 'personal'], {
      env: { TMPDIR: join(lab.sim.dir, 'tmp'), WYNG_FAKE_HOME: join(lab.sim.dir, 'wyng-home') },
    });

    assert.equal(r.code, 9, `exit code 9 (bad input)\n${r.stderr}\n${r.stdout}`);
    assert.equal(r.json?.ok, false);
    assert.equal(r.json!.errors.length, 1);
    assert.equal(r.json!.errors[0]!.kind, 'input');
    assert.match(r.json!.errors[0]!.message, c.message);
    assert.ok(r.json!.errors[0]!.message.length < 400, 'a short, clear message');
    assert.ok(
      !r.json!.errors[0]!.message.includes('secret outside'),
      'no content of outside files leaks into the message',
    );
    assert.deepEqual(
      lab.callsSince(m).map((x) => x.method),
      [],
      'not a single Admin API call',
    );
    const wyngCalls = readFileSync(lab.sim.env.WYNG_FAKE_LOG!, 'utf8')
      .trim()
      .split('\n')
      .slice(wyngLog - 1)
      .map((l) => JSON.parse(l) as { argv: string[] });
    assert.ok(
      wyngCalls.filter((x) => x.argv.includes('receive')).every((x) => x.argv.some((a) => a.startsWith('--save-to='))),
      'no data volume received',
    );
    assert.deepEqual(changedOutside(beforeTree, treeSnapshot(lab.sim.dir)), [], 'nothing written outside the temp dir');
    assert.deepEqual(readdirSync(join(lab.sim.dir, 'tmp')), [], 'the job temp dir is removed');
    assert.equal(readFileSync(canary, 'utf8'), 'secret outside the archive\n');
    for (const evil of ['evil.xml', 'abs-evil.xml', 'pax-evil.xml', 'long-evil.xml']) {
      assert.equal(existsSync(join(lab.sim.dir, evil)), false, evil);
      assert.equal(existsSync(join(lab.sim.dir, 'tmp', evil)), false, evil);
    }
    writeFileSync(lab.sim.qubesd.volumePath('personal', 'private')!, personal);
  });
}

test('a metadata volume listed larger than the cap is refused before it is received', async () => {
  // 65 MiB (sparse zeros): the archive lists its size; nothing of it may reach dom0's /tmp
  const big = Buffer.alloc(0);
  const session = await sendHostile(big, 65 * 1024 * 1024);
  const wyngLog = readFileSync(lab.sim.env.WYNG_FAKE_LOG!, 'utf8').split('\n').length;
  const m = lab.mark();
  const r = await lab.restore(['--session', session, 'personal'], {
    env: { TMPDIR: join(lab.sim.dir, 'tmp'), WYNG_FAKE_HOME: join(lab.sim.dir, 'wyng-home') },
  });
  assert.equal(r.code, 9, `${r.stderr}\n${r.stdout}`);
  assert.match(r.json!.errors[0]!.message, /lists it as 68157440 bytes, more than 67108864; nothing was received/);
  const calls = readFileSync(lab.sim.env.WYNG_FAKE_LOG!, 'utf8')
    .trim()
    .split('\n')
    .slice(wyngLog - 1)
    .map((l) => JSON.parse(l) as { argv: string[] });
  assert.deepEqual(
    calls.filter((c) => c.argv.includes('receive')),
    [],
    'no receive at all',
  );
  assert.deepEqual(lab.callsSince(m), [], 'not a single Admin API call');
  assert.deepEqual(readdirSync(join(lab.sim.dir, 'tmp')), []);
});

test('after all that, the real session still restores cleanly', async () => {
  const r = await lab.restore(['--session', lab.session, 'personal']);
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
});
