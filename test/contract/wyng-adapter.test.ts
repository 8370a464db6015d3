/**
 * Contract tests of the Wyng adapter and the archive commands. They run against the fake Wyng
 * by default and against a real Wyng when WYNG_REAL and WYNG_REAL_POOL are set
 * (test/helpers/wyng-target.ts); the test names say which one ran.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { runBundle } from '../helpers/cli.ts';
import { wyngTarget, wyngTargetKind, writeVolume } from '../helpers/wyng-target.ts';
import { buildMetadataTar } from '../../src/adapters/metadata/build.ts';
import { wyngArgv } from '../../src/adapters/wyng/argv.ts';

const QUBES_XML = `<qubes><labels><label id="label-1" color="0xcc0000">red</label></labels><pools/>\
<properties/><domains>
<domain id="domain-0" class="AdminVM"><properties><property name="label">label-1</property></properties>\
<features/><tags/></domain>
<domain id="domain-1" class="TemplateVM"><properties><property name="name">tpl</property><property name="qid">\
1</property><property name="label">label-1</property></properties><features/><tags/></domain>
<domain id="domain-2" class="AppVM"><properties><property name="name">work</property><property name="qid">\
2</property><property name="label">label-1</property></properties><features/><tags/></domain>
<domain id="domain-3" class="DispVM"><properties><property name="name">disp7</property><property name="qid">\
3</property><property name="label">label-1</property></properties><features/><tags/></domain>
</domains></qubes>`;

interface Doc {
  ok: boolean;
  exitCode: number;
  result: Record<string, unknown> & {
    sessions?: Array<{ id: string; qubes: string[] }>;
    qubes?: Record<string, { sessions: string[]; newest: string; bytes: number; sessionBytes: Record<string, number> }>;
  };
  errors: Array<{ qube?: string; kind: string; message: string }>;
}

test(
  `[${wyngTargetKind()} Wyng] archive commands: create, list, verify, prune, delete`,
  { timeout: 180_000 },
  async () => {
    const t = wyngTarget('contract');
    const dest = `file:${join(t.scratch, 'archive')}`;
    const base = ['--wyng', t.wyng, '--dest', dest];
    const cli = async (...args: string[]): Promise<{ code: number; doc: Doc; stderr: string }> => {
      const r = await runBundle([...base, '--json', ...args], { env: t.env });
      return { code: r.code, doc: JSON.parse(r.stdout) as Doc, stderr: r.stderr };
    };

    const created = await cli('-w', 'encrypt=off', 'create');
    assert.equal(created.code, 0, created.stderr);
    const empty = await cli('list');
    assert.equal(empty.code, 1);
    assert.equal(empty.doc.errors[0]?.message, 'No Qubes backup sessions.');

    const sub = `wq-${process.pid}`;
    const work = writeVolume(join(t.poolDir, 'appvms', `${sub}w`, 'private.img'), 1 << 20, [0, 300_000]);
    writeVolume(join(t.poolDir, 'vm-templates', `${sub}t`, 'root.img'), 1 << 20, [4096]);
    writeVolume(join(t.poolDir, 'vm-templates', `${sub}t`, 'private.img'), 1 << 19, [0]);
    const qubesDir = join(t.scratch, 'qubes');
    mkdirSync(qubesDir, { recursive: true });
    writeFileSync(
      join(qubesDir, 'qubes.xml'),
      QUBES_XML.replaceAll('>tpl<', `>${sub}t<`).replaceAll('>work<', `>${sub}w<`),
    );
    const tar = join(t.scratch, 'meta.tgz');
    await buildMetadataTar(qubesDir, tar);
    const localFrom = join(t.scratch, 'vols.json');
    writeFileSync(
      localFrom,
      JSON.stringify({
        [t.poolDir]: [
          [`appvms/${sub}w/private.img`, ''],
          [`vm-templates/${sub}t/root.img`, ''],
          [`vm-templates/${sub}t/private.img`, ''],
        ],
      }),
    );
    const send = (): void => {
      execFileSync(t.wyng, wyngArgv.send({ dest, unattended: true, wyngopt: [] }, { localFrom, metadataTar: tar }), {
        env: t.env as NodeJS.ProcessEnv,
        stdio: 'pipe',
      });
    };
    send();

    const one = await cli('list');
    assert.equal(one.code, 0, one.stderr);
    const s1 = one.doc.result.sessions?.[0]?.id;
    assert.match(s1 ?? '', /^\d{8}-\d{6}$/);
    assert.deepEqual(one.doc.result.sessions?.[0]?.qubes, [`${sub}t`, `${sub}w`]);
    const w = one.doc.result.qubes?.[`${sub}w`];
    assert.deepEqual([w?.sessions, w?.newest], [[s1], s1]);
    // sizes: Wyng's volsize of the qube's volumes (bytes), per session and for its newest
    assert.ok((w?.bytes ?? 0) > 0 && w?.sessionBytes[s1!] === w?.bytes, JSON.stringify(w));

    const inSession = await cli(`--session=${s1}`, 'list');
    assert.equal(inSession.code, 0, inSession.stderr);
    assert.deepEqual(inSession.doc.result.session, {
      id: s1,
      tags: { qubes: '' },
      // each qube's bytes in the session: the overview's figure for it (a DispVM has no volumes: 0)
      qubes: [
        { name: 'disp7', class: 'DispVM', disposable: true, bytes: 0 },
        {
          name: `${sub}t`,
          class: 'TemplateVM',
          disposable: false,
          bytes: one.doc.result.qubes?.[`${sub}t`]?.sessionBytes[s1!],
        },
        { name: `${sub}w`, class: 'AppVM', disposable: false, bytes: w?.bytes },
      ],
    });

    const verified = await cli('verify', `${sub}w`, `${sub}t`);
    assert.equal(verified.code, 0, verified.stderr);
    const notThere = await cli('verify', `${sub}w`, 'ghost');
    assert.equal(notThere.code, 2);
    assert.deepEqual(
      notThere.doc.errors.map((e) => e.qube),
      ['ghost'],
    );

    // the archived bytes come back exactly
    const saved = join(t.scratch, 'back.img');
    execFileSync(
      t.wyng,
      [`--dest=${dest}`, '-u', `--save-to=${saved}`, `--session=${s1}`, 'receive', `appvms/${sub}w/private.img`],
      { env: t.env as NodeJS.ProcessEnv, stdio: 'pipe' },
    );
    assert.ok(readFileSync(saved).equals(work), 'received bytes equal the sent ones');

    await new Promise((r) => setTimeout(r, 1100));
    send();
    const two = await cli('list', `${sub}w`);
    assert.equal(two.doc.result.qubes?.[`${sub}w`]?.sessions.length, 2);

    const bogus = await cli('--session=20000101-000000', 'prune', `${sub}w`);
    assert.equal(bogus.code, 9);
    const pruned = await cli(`--session=${s1}`, 'prune', `${sub}w`);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual(pruned.doc.result.removed, { [`appvms/${sub}w/private.img`]: 1 });
    const after = await cli('list', `${sub}w`);
    assert.equal(after.doc.result.qubes?.[`${sub}w`]?.sessions.length, 1);

    const deleted = await cli('-u', 'delete', `${sub}t`);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual((deleted.doc.result as { deleted: string[] }).deleted, [
      `vm-templates/${sub}t/private.img`,
      `vm-templates/${sub}t/root.img`,
    ]);
    const gone = await cli('list');
    assert.equal(gone.doc.result.qubes?.[`${sub}t`], undefined);
  },
);
