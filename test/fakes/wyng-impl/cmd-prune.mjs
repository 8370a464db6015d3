// `prune`: --session (single, "A,B" range, --all-before, ^tag), --autoprune on/full with the
// --apdays date rules (design.md "Wyng contract"). Pruned sessions are merged into the next newer one:
// here every session has a full manifest, so merging = dropping the pruned session; its
// changes then count as the next session's (is_changed()).
import { Exit, PyCrash, optionError, selectionError } from './context.mjs';
import { now } from './env.mjs';
import { isMdVol } from './archive.mjs';
import { isNum } from './options.mjs';

const DAY = 86400000;

/** Ordinal day number (days since 1970-01-01) of a local calendar date. */
function ordinal(y, m, d) {
  return Math.round(Date.UTC(y, m - 1, d) / DAY);
}
function fromOrdinal(o) {
  const dt = new Date(o * DAY);
  return { y: dt.getUTCFullYear(), m: dt.getUTCMonth() + 1, d: dt.getUTCDate() };
}
/** Local date of a session name S_YYYYMMDD-HHMMSS as an ordinal. */
function sesOrdinal(s) {
  return ordinal(Number(s.slice(2, 6)), Number(s.slice(6, 8)), Number(s.slice(8, 10)));
}
function todayOrdinal() {
  const d = new Date(Math.floor(now()) * 1000);
  return ordinal(d.getFullYear(), d.getMonth() + 1, d.getDate());
}

/** datetime.strptime(s, "%Y%m%d-%H%M%S") or Python's ValueError. */
export function checkSessionName(s) {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})$/.exec(s);
  const ok =
    m &&
    (() => {
      const [y, mo, d, h, mi, se] = m.slice(1).map(Number);
      const dt = new Date(Date.UTC(y, mo - 1, d));
      return dt.getUTCMonth() === mo - 1 && dt.getUTCDate() === d && h < 24 && mi < 60 && se < 62;
    })();
  if (!ok) throw new PyCrash('ValueError', `time data '${s}' does not match format '%Y%m%d-%H%M%S'`, 'strptime');
}

export class Pruner {
  constructor(ctx, archive, opts) {
    this.ctx = ctx;
    this.archive = archive;
    this.opts = opts;
    this.globalSessions = undefined;
  }

  /** All session names of the archive except each volume's newest (computed once per run). */
  globalApSessions() {
    if (this.globalSessions === undefined) {
      const all = new Set();
      const lasts = new Set();
      for (const v of this.archive.volumes) {
        const n = this.archive.sesnames(v);
        n.forEach((s) => all.add(s));
        if (n.length) lasts.add(n[n.length - 1]);
      }
      this.globalSessions = [...all].filter((s) => !lasts.has(s));
    }
    return [...this.globalSessions];
  }

  /** Removes `sources` (adjacent, oldest first) from the volume, merging them into the next one. */
  merge(vol, sources) {
    vol.sessions = vol.sessions.filter((s) => !sources.includes(s.name));
    this.archive.save({ metaDir: this.opts.metadir });
    this.archive.removeStrayDirs(vol);
  }

  /** autoprune(vol, apmode, include, allvols) -> [count, status] */
  autoprune(vol, apmode = 'off', include = new Set(), allvols = false) {
    const a = this.archive;
    const opts = this.opts;
    if (a.sesnames(vol).length < 2) return [0, ''];
    const today = todayOrdinal();
    const apdays = opts.apdays || '0:62:1:2';
    const tup = apdays.split(':');
    if (!tup.every(isNum)) {
      throw new PyCrash(
        'UnboundLocalError',
        "cannot access local variable 'ap1' where it is not associated with a value",
        'autoprune',
      );
    }
    const ints = tup.map((x) => {
      if (!/^\s*[+-]?\d+\s*$/.test(x))
        throw new PyCrash('ValueError', `invalid literal for int() with base 10: '${x}'`, 'autoprune');
      return Number.parseInt(x, 10);
    });
    if (ints.length !== 4) {
      throw new PyCrash(
        'ValueError',
        ints.length < 4
          ? `not enough values to unpack (expected 4, got ${ints.length})`
          : 'too many values to unpack (expected 4)',
        'autoprune',
      );
    }
    const [ap1, ap2, ndays, nsessions] = ints;
    if (ap1 < 0 || ap2 < 0 || ndays < 1 || nsessions < 1) throw selectionError("apdays must be at least '0:0:1:1'");
    const oldest = ap1 ? today - ap1 : 0;
    if (!(ap1 + ap2)) apmode = 'off';
    if (!['on', 'full'].includes(apmode) && include.size === 0) return [0, ''];
    apmode = apmode.toLowerCase();

    const sessions = this.globalApSessions().sort();
    if (sessions.length === 0) throw new PyCrash('IndexError', 'list index out of range', 'autoprune');
    const startOrd = sesOrdinal(sessions[0]);
    const startYear = fromOrdinal(startOrd).y;
    const nthresh = apmode === 'on' ? 3 : 0;
    let endOrd = 0;
    if (sessions.length > 2) {
      if (!ap2)
        throw new PyCrash('TypeError', "unsupported operand type(s) for -: 'datetime.date' and 'int'", 'autoprune');
      endOrd = Math.min(sesOrdinal(sessions[sessions.length - 2]), today - ap2);
    }

    // calendar: day -> [[session, flag]]
    const apcal = new Map();
    for (let d = ordinal(startYear, 1, 1); d < sesOrdinal(sessions[sessions.length - 1]) + ndays; d++) apcal.set(d, []);
    for (const s of sessions) apcal.get(sesOrdinal(s)).push([s, true]);
    const volNames = new Set(a.sesnames(vol));
    const toggle = new Map([...volNames].map((s) => [s, true]));

    const exclude = new Set();
    for (const sx of opts.keep) {
      if (!sx.startsWith('^')) {
        checkSessionName(sx);
        exclude.add(`S_${sx}`);
      } else {
        throw new PyCrash('AttributeError', "'str' object has no attribute 'tags'", 'autoprune');
      }
    }
    for (const x of exclude) include.delete(x);

    for (const ses of sessions) {
      const sd = sesOrdinal(ses);
      if ((apmode !== 'off' && oldest && sd <= oldest) || include.has(ses)) {
        for (const [name] of apcal.get(sd)) {
          if (name === ses && volNames.has(ses) && !exclude.has(ses)) toggle.set(ses, false);
        }
      }
    }

    if (apmode !== 'off' && ap2 && endOrd && !isMdVol(vol.name)) {
      const endYear = fromOrdinal(endOrd).y;
      for (let year = startYear; year <= endYear; year++) {
        const stop = Math.min(ordinal(year, 12, 31), endOrd);
        for (let span = ordinal(year, 1, 1); span < stop; span += ndays) {
          const dlist = [];
          let offset = 0;
          for (let day = span; day < Math.min(span + ndays, endOrd); day++)
            dlist.push(apcal.get(day).filter((x) => x[1]).length);
          const sum = () => dlist.reduce((p, c) => p + c, 0);
          while (sum() > nsessions) {
            const max = Math.max(...dlist.slice(offset));
            const bigday = dlist.indexOf(max, offset);
            offset += Math.floor(ndays / nsessions) + 1;
            offset %= Math.min(ndays, dlist.length);
            for (const dses of apcal.get(span + bigday)) {
              if (dses[1]) {
                dlist[bigday] -= 1;
                dses[1] = false;
                if (volNames.has(dses[0])) toggle.set(dses[0], exclude.has(dses[0]));
                break;
              }
            }
          }
        }
      }
    }

    // Merge contiguous runs of marked sessions into the following session.
    const pruned = new Set();
    const psessions = [...a.sesnames(vol), 'End'];
    let removed = 0;
    let toPrune = [];
    for (let i = 0; i < psessions.length; i++) {
      const ses = psessions[i];
      if (ses !== null && ses !== 'End' && (!a.sesnames(vol).includes(ses) || (isMdVol(vol.name) && !allvols))) {
        psessions[i] = null;
        continue;
      }
      if (ses === null) continue;
      if (ses === 'End' || toggle.get(ses)) {
        if (toPrune.length) {
          this.merge(vol, toPrune);
          toPrune.forEach((x) => {
            pruned.add(x);
            include.delete(x);
            psessions[psessions.indexOf(x)] = null;
          });
          removed += toPrune.length;
          toPrune = [];
          if (include.size === 0 && nthresh && removed >= nthresh) break;
        }
      } else {
        toPrune.push(ses);
      }
    }
    return [pruned.size, ''];
  }

  /** prune_sessions(vol, times, allvols) -> [count, status] */
  pruneSessions(vol, times, allvols) {
    const a = this.archive;
    const opts = this.opts;
    const names = a.sesnames(vol);
    const allbefore = opts.allbefore;
    if (names.length < 2) return [0, 'No extra sessions to prune'];
    if (allbefore && times.length !== 1) throw optionError('--all-before requires one session.');
    times = times.map((t) => (t === 'newest' ? names[names.length - 1] : t));
    let t1 = '';
    let t2 = '';
    let toPrune = [];
    const vtags = a.volTags(vol);
    for (let pos = 0; pos < times.length; pos++) {
      const dt = times[pos];
      if (!dt.startsWith('^')) {
        if (!dt.startsWith('S_')) times[pos] = `S_${dt.trim()}`;
        checkSessionName(times[pos].slice(2));
      } else if (!vtags.has(dt.slice(1))) {
        return [0, `No match for ${dt}`];
      } else if (pos === 0) {
        for (const sn of names) {
          if (new Map(a.session(vol, sn).tags).has(dt.slice(1))) {
            if (times.length === 1 && !allbefore) toPrune.push(sn);
            else {
              t1 = sn;
              break;
            }
          }
        }
      } else if (pos === 1) {
        for (const sn of [...names].reverse()) {
          if (new Map(a.session(vol, sn).tags).has(dt.slice(1))) {
            t2 = sn;
            break;
          }
        }
      }
    }
    if (allbefore) {
      t1 = names[0];
      t2 = times[0];
    }
    if (!t1) t1 = times[0];
    if (!t2 && times.length > 1) {
      t2 = times[1];
      if (t2 <= t1) throw selectionError('Second date-time must be later than first.');
    }
    if (toPrune.length) {
      // tag match
    } else if (t2 === '') {
      if (names.includes(t1)) toPrune.push(t1);
    } else {
      let start = names.length;
      let end = 0;
      if (names.includes(t1)) start = names.indexOf(t1);
      else {
        const first = names.find((s) => s > t1);
        if (first !== undefined) start = names.indexOf(first);
      }
      if (names.includes(t2)) end = names.indexOf(t2) + (allbefore ? 0 : 1);
      else {
        const lastBefore = [...names].reverse().find((s) => s < t2);
        if (lastBefore !== undefined) end = names.indexOf(lastBefore) + 1;
      }
      toPrune = names.slice(start, end);
    }
    if (toPrune.length && toPrune[toPrune.length - 1] === names[names.length - 1]) {
      if (this.ctx.verbose) this.ctx.out(' Preserving latest session -');
      toPrune.pop();
    }
    if (toPrune.length === 0) return [0, 'No selections in this date-time range'];
    return this.autoprune(vol, opts.autoprune, new Set(toPrune), allvols);
  }
}

/** The `prune` action. */
export function pruneCommand(ctx, archive, opts, selected) {
  const ap = opts.autoprune.toLowerCase();
  if (ap === 'off' && !opts.session) throw new Exit(1, 'Specify --autoprune or --session for prune.');
  if (!opts.unattended && selected.length) {
    ctx.print('This operation will delete session(s) from the archive;');
    const ans = ctx.ask('Are you sure? [y/N]: ').trim();
    if (!['y', 'yes'].includes(ans.toLowerCase())) throw new Exit(0);
  }
  ctx.print();
  const pruner = new Pruner(ctx, archive, opts);
  const mdvols = selected.filter((x) => isMdVol(x));
  const allvols = opts.all && sameSet(selected, archive.names());
  for (const dv of [...selected.filter((x) => !isMdVol(x)), ...mdvols]) {
    ctx.out(`${dv} -`);
    let n = 0;
    let status = '';
    if (opts.session) [n, status] = pruner.pruneSessions(archive.vol(dv), splitOnce(opts.session, ','), allvols);
    else if (['on', 'full'].includes(ap)) [n, status] = pruner.autoprune(archive.vol(dv), ap, new Set(), allvols);
    ctx.print(n, ctx.verbose ? status : '');
  }
  archive.collectGarbage();
}

function splitOnce(s, sep) {
  const i = s.indexOf(sep);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}

function sameSet(a, b) {
  const A = new Set(a);
  const B = new Set(b);
  return A.size === B.size && [...A].every((x) => B.has(x));
}
