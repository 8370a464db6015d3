// `send` (design.md "Wyng contract"): one new session for every listed volume plus the
// --import-other-from volumes; real file data goes into the archive chunk store.
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { PyCrash, sleep, storageError, tick } from './context.mjs';
import { now, startTime, terminalColumns, volumeDelayMs } from './env.mjs';
import { isMdVol, mtimeNs } from './archive.mjs';
import { Pruner } from './cmd-prune.mjs';
import { isPrintable, pyCenter, pyLen, sessionStamp } from './pyfmt.mjs';

const MB = 1024 * 1024;
const MAX_TAGS = 5;

/** ArchiveSession.tag_parse(): (id, description) or undefined after printing the errors. */
function tagParse(ctx, text) {
  const t = text.trim();
  const comma = t.indexOf(',');
  const rawId = comma < 0 ? t : t.slice(0, comma);
  const id = [...rawId.trim().toLowerCase()].slice(0, 25).join('');
  const desc = comma < 0 ? '' : t.slice(comma + 1).trim();
  const errs = [];
  if (/[,=^]/.test(id) || /\s/.test(id) || !isPrintable(id))
    errs.push("Error: [^control], [space], and ',^=' not allowed in tag ID.");
  if (!isPrintable(desc)) errs.push('Error: [^control] not allowed in tag comment.');
  if (pyLen(desc) > 100) errs.push('Error: Oversize tag comment.');
  if (id === 'all') errs.push("Error: tag 'all' is reserved.");
  if (errs.length) {
    ctx.errOut(errs.join('\n'));
    return undefined;
  }
  return [id, desc];
}

/** ArchiveVolume.volname_check() */
function volnameCheck(name) {
  if (!(pyLen(name) > 0 && pyLen(name) <= 255)) return 'Volume path/name length must be 1 - 255.';
  if (!isPrintable(name)) return 'Non-printable characters not allowed in volume names.';
  if (
    name
      .trim()
      .split('/')
      .some((x) => x === '.' || x === '..') ||
    name.trim()[0] === '/'
  )
    return 'Bad volume name.';
  return '';
}

/** Reads a file chunk by chunk: manifest lines ("0" or sha256) and stores new chunks. */
async function scanFile(archive, path, prevLines, onChunk) {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const cs = archive.chunksize;
    const zero = Buffer.alloc(cs);
    const buf = Buffer.alloc(cs);
    const lines = [];
    let changedBytes = 0;
    let nonzeroBytes = 0;
    for (let addr = 0, i = 0; addr < size; addr += cs, i++) {
      const len = Math.min(cs, size - addr);
      let got = 0;
      while (got < len) {
        const n = readSync(fd, buf, got, len - got, addr + got);
        if (n === 0) break;
        got += n;
      }
      if (got < len) buf.fill(0, got, len);
      const chunk = buf.subarray(0, len);
      const line = chunk.equals(zero.subarray(0, len)) ? '0' : archive.putChunk(chunk);
      lines.push(line);
      if (line !== '0') nonzeroBytes += len;
      if (line !== '0' && prevLines?.[i] !== line) changedBytes += len;
      onChunk(addr, size);
      if (i % 16 === 15) await tick();
    }
    return { lines, size, changedBytes, nonzeroBytes };
  } finally {
    closeSync(fd);
  }
}

/**
 * Session name from the process start time. Like Wyng, a second send within the same second
 * crashes with "Duplicate session name" (below); WYNG_FAKE_SESSION_BUMP=1 names it one second
 * later instead.
 */
function sessionName(archive) {
  let t = Math.floor(startTime());
  if (process.env.WYNG_FAKE_SESSION_BUMP === '1') {
    const taken = new Set(archive.volumes.flatMap((v) => v.sessions.map((s) => s.name)));
    while (taken.has(`S_${sessionStamp(t)}`)) t += 1;
  }
  return sessionStamp(t);
}

export async function sendCommand(ctx, archive, opts, sets, selected, faults) {
  const state = { sid: undefined, tags: undefined, committed: 0 };
  const stvols = sets.flatMap((s) => s.vols);
  const imports = new Map();
  for (const x of opts.import_other_from) {
    const i = x.indexOf(':|:');
    if (i < 0) throw new PyCrash('ValueError', 'not enough values to unpack (expected 2, got 1)', 'send');
    imports.set(x.slice(0, i), resolve(x.slice(i + 3)));
  }
  const lens = [...imports.keys(), ...selected, ...stvols].map(pyLen);
  const vnameSz = lens.length ? Math.max(...lens) : 30;
  let sel = [...selected];
  for (const set of sets) {
    const vols = set.vols.length ? set.vols : sel;
    if (vols.length === 0) continue;
    await monitorSend(ctx, archive, opts, set.pool, [...vols], imports, state, vnameSz, faults);
    sel = [];
    imports.clear();
  }
  if (imports.size) ctx.errorCache.push(...imports.keys());
}

async function monitorSend(ctx, archive, opts, pool, datavols, imports, state, vnameSz, faults) {
  const status1 = !opts.unattended;
  const started = now();
  state.sid ??= sessionName(archive);
  const sid = state.sid;

  if (opts.autoprune.toLowerCase() === 'full') {
    const pruner = new Pruner(ctx, archive, opts);
    for (const vol of [...archive.volumes]) pruner.autoprune(vol, 'full');
  }

  if (!pool.canSnapshot && datavols.length) {
    const reason = pool.online ? 'Local not a subvolume or no snapshot feature' : 'Local path not found';
    ctx.errOut(`\nError, ${reason}: (${pool.pooltype ?? 'None'}) ${pool.path ?? 'None'}`);
    ctx.errorCache.push(...datavols);
    return;
  }

  // An alias in --local-from renames the archive volume before sending.
  for (const dv of [...datavols]) {
    const alias = archive.aliases.get(dv);
    if (alias && alias !== dv && archive.has(dv) && !archive.has(alias)) {
      const vol = archive.vol(dv);
      vol.name = alias;
      archive.save({ metaDir: opts.metadir });
      if (ctx.verbose) ctx.print('Archive volume renamed.');
      pool.moveSnapshot(dv, alias, archive.uuid, vol.vid);
      datavols.splice(datavols.indexOf(dv), 1);
      datavols.push(alias);
    }
  }

  ctx.print(`\nPreparing snapshots in '${pool.path}'...`);
  if (faults.storage7) throw storageError(7, 'Filesystem Generation IDs differ.');

  for (const dv of [...datavols, ...imports.keys()]) {
    const vp = imports.get(dv) ?? pool.file(dv);
    if (!existsSync(vp)) {
      ctx.errOut(`  Warning: Local '${vp}' does not exist!`);
      if (imports.has(dv))
        throw new PyCrash('AttributeError', "'dict' object has no attribute 'remove'", 'prepare_snapshots_reflink');
      datavols.splice(datavols.indexOf(dv), 1);
    }
  }

  const incr = [];
  const full = [];
  const unchanged = [];
  for (const dv of [...datavols, ...imports.keys()]) {
    if (!archive.has(dv)) {
      const err = volnameCheck(dv);
      if (err) {
        ctx.err(`${err}\n`);
        ctx.errorCache.push(dv);
        if (imports.has(dv)) imports.delete(dv);
        else datavols.splice(datavols.indexOf(dv), 1);
        continue;
      }
      archive.addVolume(dv, opts.voldesc);
      archive.save({ metaDir: opts.metadir });
    }
    const vol = archive.vol(dv);
    if (imports.has(dv)) {
      if (!isMdVol(dv)) ctx.print(`  Queuing full scan of import '${dv}'`);
      continue;
    }
    const last = archive.last(vol);
    if (last !== undefined && pool.paired(dv, archive.uuid, vol.vid, last)) {
      const snap = pool.readSnapshot(dv, archive.uuid, vol.vid);
      const st = statSync(pool.file(dv), { bigint: true });
      // as Wyng: unchanged when the snapshot's mtime (ns) and size are the volume's
      if (BigInt(snap.mtimeNs) === st.mtimeNs && snap.size === Number(st.size)) unchanged.push(dv);
      else incr.push(dv);
    } else {
      ctx.print(`  Queuing full scan of '${dv}'`);
      full.push(dv);
    }
  }

  if (opts.tag.length && state.tags === undefined) {
    const tags = new Map();
    for (const t of opts.tag) {
      if (t === '' || t === '@') continue;
      const tag = tagParse(ctx, t);
      if (!tag) throw new PyCrash('ValueError', `Invalid tag ${t}`, 'monitor_send');
      tags.set(tag[0], tag[1]);
    }
    if ((opts.tag.length === 1 && opts.tag[0] === '') || opts.tag.includes('@')) {
      ctx.print("Enter tag info as 'tagID[, tag description]'. Blank to end input.");
      for (;;) {
        const ans = ctx.ask(`[${tags.size + 1}]: `).trim();
        if (!ans) break;
        const tag = tagParse(ctx, ans);
        if (!tag || tags.has(tag[0])) {
          ctx.print('(not added)');
          continue;
        }
        tags.set(tag[0], tag[1]);
        if (tags.size === MAX_TAGS) break;
      }
      ctx.print(tags.size, 'tags total.');
    }
    state.tags = tags;
  }
  const sesTags = state.tags ?? new Map();

  if (incr.length) {
    ctx.out('Acquiring deltas.');
    ctx.print('');
  }
  ctx.print(`\nSending backup session ${sid}:`);
  const hl = '—'.repeat(Math.min(Math.max(vnameSz, 30), terminalColumns()) + 20);
  ctx.print(hl);

  let totalVsize = 0;
  let totalBcount = 0;
  let sentVols = 0;
  const delay = volumeDelayMs();
  const interruptCheck = () => {
    if (faults.interruptAfter !== undefined && state.committed >= faults.interruptAfter) ctx.interrupt();
  };
  interruptCheck();

  for (const dv of [...imports.keys(), ...[...incr, ...full, ...unchanged].sort()]) {
    const vol = archive.vol(dv);
    const isImport = imports.has(dv);
    const path = imports.get(dv) ?? pool.file(dv);
    ctx.out(status1 ? `            |     | ${dv}\r` : `Volume '${dv}'\n`);
    if (faults.sendVolumes.has(dv)) {
      ctx.out(status1 ? '\r\n' : '');
      ctx.errOut(`  Error: sending volume '${dv}' failed (WYNG_FAKE_FAIL=send-volume).`);
      ctx.errorCache.push(dv);
      continue;
    }
    const last = archive.last(vol);
    const prevLines = last !== undefined ? archive.manifest(vol, last) : undefined;
    const prevSize = last !== undefined ? archive.session(vol, last).volsize : undefined;
    const isUnchanged = unchanged.includes(dv);
    const isFull = full.includes(dv) || isImport;

    const t0 = now();
    let progress = 0;
    let scan;
    let updated;
    let started = false;
    const begin = () => {
      started = true;
      ctx.out(status1 ? `\r${(0).toFixed(1).padStart(9)}MB \\ 0%` : '  [');
    };
    if (isUnchanged) {
      scan = { lines: prevLines, size: prevSize, changedBytes: 0, nonzeroBytes: 0 };
      updated = false;
    } else {
      if (isFull) begin();
      if (delay) await sleep(delay);
      scan = await scanFile(archive, path, isFull ? undefined : prevLines, (addr, size) => {
        if (started && !status1 && size && (addr / size) * 100 > progress) {
          ctx.out('|');
          progress += 5;
        }
      });
      updated = isFull || scan.size !== prevSize || scan.lines.join('\n') !== prevLines.join('\n');
    }
    const bcount = isFull ? scan.nonzeroBytes : scan.changedBytes;

    let sent = false;
    if (updated || opts.send_unchanged) {
      if (!started) begin();
      if (archive.session(vol, `S_${sid}`)) throw new PyCrash('ValueError', 'Duplicate session name', 'new_session');
      const tagList = [...sesTags.entries()];
      for (let k = MAX_TAGS; k < tagList.length; k++) ctx.errOut(`${MAX_TAGS} maximum tags.`);
      archive.writeManifest(vol, `S_${sid}`, scan.lines);
      vol.sessions.push({
        name: `S_${sid}`,
        volsize: scan.size,
        sequence: last !== undefined ? archive.session(vol, last).sequence + 1 : 0,
        ts: mtimeNs(path),
        tags: tagList.slice(0, MAX_TAGS),
      });
      archive.save({ cache: false });
      sent = true;
      sentVols += 1;
      state.committed += 1;
      const tp = `${Math.max(1, Math.ceil(now() - t0))}s`;
      if (status1)
        ctx.out(`\r${(bcount / MB).toFixed(1).padStart(9)}MB |${bcount ? pyCenter(tp.slice(0, 5), 5) : '  - '}`);
      else
        ctx.out(`${'|'.repeat(Math.max(0, Math.floor((100 - progress) / 5)))}]  100%  ${(bcount / MB).toFixed(1)}MB `);
    }
    if (!isImport) pool.writeSnapshot(dv, archive.uuid, vol.vid, archive.last(vol));
    const p1 = status1 ? '\r' : '';
    const p2 = status1 && !sent ? ' |  -' : '';
    ctx.out(bcount || updated ? `${p1}\n` : `${p1}  no change${p2}\n`);
    const newest = archive.last(vol);
    totalVsize += newest !== undefined ? archive.session(vol, newest).volsize : 0;
    totalBcount += bcount;
    interruptCheck();
    await tick();
  }
  archive.writeCache(opts.metadir);
  if (sentVols) {
    ctx.print(
      hl,
      `\n${sentVols} volumes, ${Math.floor(totalVsize / MB)}——>${Math.floor(totalBcount / MB)} MB ` +
        `in ${(now() - started).toFixed(1)} seconds.`,
    );
  }
}
