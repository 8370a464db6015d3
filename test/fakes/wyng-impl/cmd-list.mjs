// `list`: the JSON document of `--json list` (design.md "Wyng contract") and the human views.
import { terminalColumns } from './env.mjs';
import { pyJson, pyTuple } from './pyfmt.mjs';

const CI_MODES = { off: '00', 'xchacha20-ct': '32', 'xchacha20-msr': '34', 'xchacha20-dgr': '35' };
const CIPHER_NAMES = {
  'xchacha20-ct': 'xchacha20-poly1305-ct',
  'xchacha20-msr': 'xchacha20-poly1305-msr',
  'xchacha20-dgr': 'xchacha20-poly1305-msr',
};

/** The `--json list` document as Wyng 0.8 rc4 writes it (key order, types, "None"). */
export function listDocument(archive) {
  const volumes = new Map();
  for (const vol of archive.volumes) {
    const names = archive.sesnames(vol);
    const last = names.length ? names[names.length - 1] : 'None';
    const sessions = new Map();
    for (const name of names) {
      const s = archive.session(vol, name);
      sessions.set(
        name,
        new Map([
          ['volsize', s.volsize],
          ['sequence', s.sequence],
          ['ts', BigInt(s.ts)],
          ['chg', archive.isChanged(vol, name)],
          ['tags', new Map(s.tags)],
        ]),
      );
    }
    volumes.set(
      vol.name,
      new Map([
        ['vid', vol.vid],
        ['desc', vol.desc],
        ['last', last],
        ['ts', names.length ? BigInt(archive.session(vol, last).ts) : null],
        ['sessions', sessions],
      ]),
    );
  }
  return new Map([
    ['wversion', '0.8 rc4'],
    ['fver', 3],
    ['wdate', '20251028'],
    ['uuid', archive.uuid],
    ['updated_at', archive.updatedAt],
    ['encrypted', archive.encrypted],
    ['is_auth', archive.encrypted],
    ['url', archive.spec],
    ['volumes', volumes],
  ]);
}

/** show_list() */
export function listCommand(ctx, archive, opts, selected) {
  if (opts.json) {
    // print("", file=out); json.dump(doc, out): an empty line, then JSON without a newline.
    ctx.out(`\n${pyJson(listDocument(archive))}`);
    return;
  }
  if (opts.verbose) {
    ctx.print('\nArchive Properties:');
    const st = archive.state;
    const [compression, level] = (st.compression ?? 'zstd:3').split(':');
    const cipher = st.cipher ?? 'off';
    const props = [
      ['updated_at', archive.updatedAt],
      ['uuid', archive.uuid],
      ['format_ver', '3'],
      ['chunksize', String(archive.chunksize)],
      ['compression', compression],
      ['compr_level', level],
      ['hashtype', st.hashtype ?? 'blake2b'],
    ];
    for (const [k, v] of props) ctx.print(` ${k.padEnd(15)} = ${v}`);
    ctx.print(` ${'cipher'.padEnd(15)} =`, cipher, cipher === 'off' ? '' : `(${CIPHER_NAMES[cipher] ?? cipher})`);
    ctx.print(` ${'ci_mode'.padEnd(15)} = ${CI_MODES[cipher] ?? '00'}`);
    if (cipher !== 'off') {
      ctx.print(` ${'dataci_count'.padEnd(15)} = 0`);
      ctx.print(` ${'mci_count'.padEnd(15)} = ${st.saves ?? 0}`);
    }
  }

  if (opts.tag.length > 0) {
    ctx.print('\nTag Assignments');
    const ltags = new Map();
    const vols = selected.length ? selected : archive.names().sort();
    for (const dv of vols) {
      const vol = archive.vol(dv);
      for (const [tag, sesset] of archive.volTags(vol)) {
        const rows = [...sesset].map((x) => [dv, x.slice(2), new Map(archive.session(vol, x).tags).get(tag)]);
        ltags.set(tag, [...(ltags.get(tag) ?? []), ...rows]);
      }
    }
    for (const tag of [...ltags.keys()].sort()) {
      ctx.print(`\n${tag}:`);
      const rows = ltags.get(tag).sort((a, b) => cmpTuple(a, b));
      for (const r of rows) ctx.print(' ', pyTuple(r));
    }
    return;
  }

  if (archive.volumes.length === 0) {
    ctx.print('\nNo volumes.');
    return;
  }
  if (selected.length === 0 && opts.volumes.length === 0) {
    ctx.print('\nVolumes:');
    const session = opts.session;
    const names = archive
      .names()
      .filter((n) => !session || archive.sesnames(archive.vol(n)).includes(`S_${session}`))
      .sort();
    const width = Math.max(...archive.names().map((n) => n.length));
    for (const name of names) {
      const vol = archive.vol(name);
      if (opts.verbose) {
        const sn = archive.sesnames(vol);
        const last = sn.length ? sn[sn.length - 1].slice(2) : ' ';
        const size = sn.length ? archive.session(vol, sn[sn.length - 1]).volsize : 0;
        ctx.print(
          `${(size / 1024 ** 3).toFixed(2).padStart(7)} GB  ${vol.vid}  ` +
            `${name.padEnd(width + 2)}  ${last} (${String(sn.length).padStart(3)})`,
        );
        if (vol.desc) ctx.print('  desc:', vol.desc);
      } else {
        ctx.print('', name);
      }
    }
    return;
  }

  const cols = Math.max(4, Math.min(10, Math.floor(terminalColumns() / 17)));
  for (const dv of selected) {
    ctx.print(`\nSessions for volume '${dv}':\n`);
    const vol = archive.vol(dv);
    const names = archive.sesnames(vol);
    if (names.length === 0) {
      ctx.print('None.');
      continue;
    }
    let lmonth = names[0].slice(2, 8);
    let slist = [];
    for (const sname of [...names, '']) {
      const month = sname.slice(2, 8);
      const ses = sname ? archive.session(vol, sname) : undefined;
      if (opts.unattended || opts.verbose) {
        ctx.print(
          sname.slice(2),
          ses && opts.verbose ? `(${ses.volsize} bytes)` : '',
          ses && archive.isChanged(vol, sname) ? 'Chg' : '',
        );
        if (ses && opts.verbose) {
          for (const [id, desc] of [...ses.tags].sort((a, b) => cmpTuple(a, b)))
            ctx.print(' tag:', id + (desc ? `, ${desc}` : ''));
        }
        continue;
      }
      if (month === lmonth) {
        slist.push(sname);
      } else {
        const size = slist.length;
        let c = cols;
        const extra = size % cols;
        const rows = Math.floor(size / cols) + (extra ? 1 : 0);
        if (extra && rows < 3 && cols - extra > 1) c -= Math.floor((cols - extra) / 2);
        for (let r = 0; r < rows; r++) {
          const row = [];
          for (let x = 0; x < c; x++) if (x * rows + r < size) row.push(slist[x * rows + r].slice(2));
          ctx.print('', row.join('  '));
        }
        ctx.print();
        lmonth = month;
        slist = [sname];
      }
    }
  }
}

function cmpTuple(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === b[i]) continue;
    if (a[i] === undefined) return -1;
    if (b[i] === undefined) return 1;
    return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}
