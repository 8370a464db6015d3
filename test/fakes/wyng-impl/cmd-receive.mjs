// `receive` and `verify` (design.md "Wyng contract"): data comes back from the chunk store,
// every chunk checked against its hash.
import {
  closeSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  statSync,
  utimesSync,
  writeSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, resolve as resolvePath } from 'node:path';
import { Exit, PyCrash, sleep, tick } from './context.mjs';
import { volumeDelayMs } from './env.mjs';
import { isMdVol } from './archive.mjs';
import { checkSessionName } from './cmd-prune.mjs';
import { pyRepr } from './pyfmt.mjs';

function readAt(fd, buf, len, pos) {
  let got = 0;
  while (got < len) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  if (got < len) buf.fill(0, got, len);
  return buf.subarray(0, len);
}

function writeAt(fd, data, pos) {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, pos + done);
}

function chunkOrCrash(archive, hash, addr) {
  const buf = archive.getChunk(hash);
  if (buf === undefined) {
    throw new PyCrash('ValueError', `Bad hash at x${addr.toString(16).padStart(16, '0')} :: ${hash}`, 'receive_volume');
  }
  return buf;
}

/** Writes a session's full contents to an open file (used for snapshot copies). */
function writeSession(archive, vol, sesname, fd) {
  const ses = archive.session(vol, sesname);
  const cs = archive.chunksize;
  ftruncateSync(fd, 0);
  ftruncateSync(fd, ses.volsize);
  archive.manifest(vol, sesname).forEach((h, i) => {
    if (h !== '0') writeAt(fd, chunkOrCrash(archive, h, i * cs), i * cs);
  });
}

/**
 * receive_volume(): returns false for a per-volume error (caller records it), true otherwise.
 * verifyOnly: 0 receive, 1 verify, 2 arch-check data check.
 */
export async function receiveVolume(
  ctx,
  archive,
  pool,
  vol,
  { selectSes = '', strict = true, verifyOnly = 0, faults },
) {
  const opts = ctx.options;
  const attended = !opts.unattended;
  const verbose = (opts.verbose > 0 || attended) && verifyOnly !== 2;
  let sparse = opts.sparse;
  let sparseWrite = opts.sparse_write || sparse;
  const saveTo = verifyOnly ? '' : opts.save_to || '';
  if (!(pool.online || verifyOnly || opts.save_to)) {
    ctx.errOut('Please specify a valid --local storage.');
    return false;
  }
  const names = archive.sesnames(vol);
  if (names.length === 0) {
    ctx.errOut('No sessions available.');
    return false;
  }
  let sel;
  if (selectSes) {
    if (selectSes[0] === '^') {
      const tags = archive.volTags(vol);
      sel = selectSes;
      if (tags.has(selectSes.slice(1))) {
        sel = [...tags.get(selectSes.slice(1))].sort().pop();
        ctx.print('Matched tag to', sel);
      }
    } else {
      checkSessionName(selectSes);
      sel = `S_${selectSes}`;
    }
    if ((strict && !names.includes(sel)) || (!strict && sel < names[0])) {
      ctx.errOut(`No volume '${vol.name}' in session ${sel}.`);
      return false;
    }
    if (!strict && !names.includes(sel)) {
      ctx.out(`Selecting ${sel.slice(2)} as `);
      sel = names.filter((s) => s < sel).pop();
      ctx.print(`${sel.slice(2)}.`);
    }
  } else {
    sel = names[names.length - 1];
  }
  const last = names[names.length - 1];
  const ses = archive.session(vol, sel);
  const volsize = ses.volsize;
  const failing = verifyOnly ? faults.verifyVolumes.has(vol.name) : faults.receiveVolumes.has(vol.name);

  let target = '';
  let home = false;
  let useSnapshot = false;
  let localName = vol.name;
  if (!verifyOnly) {
    if (saveTo) {
      target = saveTo;
      // Wyng has no storage object for a save path whose directory does not exist.
      let dirOk = false;
      try {
        dirOk = statSync(dirname(resolvePath(saveTo))).isDirectory();
      } catch {
        dirOk = false;
      }
      if (!dirOk)
        throw new PyCrash('AttributeError', "'NoneType' object has no attribute 'file_punch_hole'", 'receive_volume');
    } else {
      if (!pool.online) {
        ctx.errOut('Local storage is offline!');
        return false;
      }
      localName = archive.aliases.get(vol.name) ?? vol.name;
      target = pool.file(localName);
      home = true;
    }
    if (home && (opts.use_snapshot || opts.use_snapshot_diff) && pool.paired(localName, archive.uuid, vol.vid, last)) {
      sparseWrite = true;
      useSnapshot = true;
      sparse = false;
    }
  }

  if (verifyOnly !== 2) {
    ctx.print(target ? '\nReceiving' : '\nVerifying', `volume '${vol.name}'`, sel.slice(2));
    if (target) ctx.print(`Saving to file '${target}'`);
  }
  const delay = volumeDelayMs();
  if (delay) await sleep(delay);
  if (failing) {
    ctx.errOut(`Error: ${verifyOnly ? 'verifying' : 'receiving'} volume '${vol.name}' failed (WYNG_FAKE_FAIL).`);
    return false;
  }

  let fd;
  const openTarget = () => {
    mkdirSync(dirname(target), { recursive: true });
    if (!existsSync(target) || !sparseWrite) {
      closeSync(openSync(target, 'w'));
      sparseWrite = false;
      sparse = false;
    }
    fd = openSync(target, 'r+');
    ftruncateSync(fd, volsize);
  };

  try {
    if (target && useSnapshot) {
      mkdirSync(dirname(target), { recursive: true });
      fd = openSync(target, existsSync(target) ? 'r+' : 'w+');
      writeSession(archive, vol, last, fd);
      if (sel === last) {
        closeSync(fd);
        fd = undefined;
        finishTarget(archive, pool, vol, ses, target, localName, home, sel === last);
        ctx.print('Snapshot retrieved.');
        return true;
      }
      // Older session: the snapshot is only the starting point.
      useSnapshot = false;
      ftruncateSync(fd, volsize);
    } else if (target) {
      if (opts.req_snapshot && !isMdVol(vol.name)) {
        ctx.errOut(`\nError: Snapshot not available for '${vol.name}' ${sel}.`);
        return false;
      }
      openTarget();
    }

    if (verifyOnly !== 2 && !verbose) ctx.out('[');
    const cs = archive.chunksize;
    const zero = Buffer.alloc(cs);
    const local = Buffer.alloc(cs);
    let progress = 0;
    let diff = 0;
    let bcount = 0;
    const lines = archive.manifest(vol, sel);
    for (let i = 0; i < lines.length; i++) {
      const addr = i * cs;
      const len = Math.min(cs, volsize - addr);
      if (verbose) {
        const x = volsize ? addr / volsize : 0;
        ctx.out(`\r[${'|'.repeat(Math.ceil(x * 20)).padEnd(20, '.')}] ${(x * 100).toFixed(1)}% `);
      } else if (verifyOnly !== 2 && volsize && (addr / volsize) * 100 > progress) {
        ctx.out('|');
        progress += 5;
      }
      if (lines[i] === '0') {
        if (fd !== undefined && sparseWrite && !readAt(fd, local, len, addr).equals(zero.subarray(0, len))) {
          writeAt(fd, zero.subarray(0, len), addr);
          diff += cs;
        }
        continue;
      }
      const buf = chunkOrCrash(archive, lines[i], addr);
      bcount += buf.length;
      if (i % 16 === 15) await tick();
      if (verifyOnly || fd === undefined) continue;
      if (sparseWrite) {
        if (!readAt(fd, local, len, addr).equals(buf)) {
          writeAt(fd, buf, addr);
          diff += buf.length;
        }
      } else {
        writeAt(fd, buf, addr);
      }
    }
    if (verbose) ctx.out(`\r[${'|'.repeat(20)}`);
    ctx.out(
      `${verifyOnly !== 2 ? '] 100% ' : ''}${!diff || target ? ': OK ' : ' '}` +
        `${diff ? ` Diff bytes: ${diff}` : ''}${verbose ? '' : '\n'}`,
    );
    if (verbose) ctx.print(` Data bytes: ${bcount}`, verifyOnly !== 2 ? `/ ${volsize}` : '');
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (target) finishTarget(archive, pool, vol, ses, target, localName, home, sel === last);
  return true;
}

/**
 * Sets atime and mtime to `ns` nanoseconds exactly, as Wyng's os.utime(ns=…) does. Node's utimes()
 * takes a double and libuv cuts it to whole microseconds, so it is only the first step; `touch -d
 * @S.N` sets the nanoseconds. Where neither works the time stays as it is (like Wyng, only where the
 * storage allows it).
 */
function setTimesNs(target, ns) {
  try {
    const t = Number(ns) / 1e9;
    utimesSync(target, t, t);
    if (statSync(target, { bigint: true }).mtimeNs === ns) return;
    const s = ns / 1_000_000_000n;
    const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
    execFileSync('touch', ['-c', '-d', `@${s}.${frac}`, '--', target], { stdio: 'ignore' });
  } catch {
    /* storage without settable times */
  }
}

/** Restores the session's mtime; after receiving the newest session the snapshot is paired again. */
function finishTarget(archive, pool, vol, ses, target, localName, home, newest) {
  setTimesNs(target, BigInt(ses.ts));
  if (home && newest && pool.canSnapshot) pool.writeSnapshot(localName, archive.uuid, vol.vid, ses.name);
}

async function eachVolume(ctx, archive, sets, selected, fn) {
  let sel = [...selected];
  let processed = 0;
  const faults = ctx.faults;
  for (const set of sets) {
    const dvlist = set.vols.length ? set.vols : sel;
    sel = [];
    if (fn.needsPool && !set.pool.online && set.vols.length) {
      ctx.errOut(`\n Offline volumes: ${set.vols.join(', ')}`);
      ctx.errorCache.push(...set.vols);
      continue;
    }
    for (const dv of dvlist) {
      if (faults.interruptAfter !== undefined && processed >= faults.interruptAfter) ctx.interrupt();
      const vol = archive.vol(dv);
      if (!vol) throw new PyCrash('KeyError', pyRepr(dv), 'receive_volume');
      if (!(await fn(set.pool, vol))) ctx.errorCache.push(dv);
      processed += 1;
    }
  }
  if (faults.interruptAfter !== undefined && processed >= faults.interruptAfter && processed > 0) ctx.interrupt();
}

export async function receiveCommand(ctx, archive, opts, sets, selected) {
  if (selected.length !== 1 && opts.save_to) throw new Exit(1, 'Specify one volume for receive --save-to.');
  if (opts.session && opts.session.split(',').length > 1) throw new Exit(1, 'Specify only one session for receive.');
  if (!opts.unattended && !opts.force && (selected.length || sets.some((s) => s.vols.length))) {
    ctx.print('\nWarning:  Receiving to existing volumes will overwrite them!');
    const ans = ctx.ask('Are you sure? [y/N]: ');
    if (!['y', 'yes'].includes(ans.toLowerCase())) throw new Exit(1);
  }
  const fn = (pool, vol) =>
    receiveVolume(ctx, archive, pool, vol, {
      selectSes: opts.session || '',
      strict: opts.session_strict === 'on',
      faults: ctx.faults,
    });
  fn.needsPool = true;
  await eachVolume(ctx, archive, sets, selected, fn);
}

export async function verifyCommand(ctx, archive, opts, sets, selected) {
  const fn = (pool, vol) =>
    receiveVolume(ctx, archive, pool, vol, {
      selectSes: opts.session ? opts.session.split(',')[0] : '',
      strict: opts.session_strict === 'on',
      verifyOnly: 1,
      faults: ctx.faults,
    });
  await eachVolume(ctx, archive, sets, selected, fn);
}
