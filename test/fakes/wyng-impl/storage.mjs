// Local storage (the Qubes pool directory) and the --local-from / --vols-from file
// (design.md "Wyng contract"). Wyng's local snapshots `sn<uuid>_<vid>.wyng1` are small JSON marker files
// here: they record which archive session the local volume was last paired with.
import { existsSync, readFileSync, realpathSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PyCrash, selectionError } from './context.mjs';
import { anyDirIsPool } from './env.mjs';
import { isPrintable, pyRepr } from './pyfmt.mjs';

const BTRFS_MAGIC = 0x9123683e;

function canonical(p) {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

export class LocalStorage {
  /** @param localpath string | null  as given (pool path from the JSON, or --local) */
  constructor(ctx, localpath, { requireOnline, faults }) {
    this.given = localpath;
    this.online = false;
    this.canSnapshot = false;
    this.path = null; // with trailing slash, like Wyng
    this.pooltype = null;
    if (typeof localpath === 'string' && localpath !== '' && isPrintable(localpath)) {
      const abs = canonical(localpath);
      let isDir = false;
      try {
        isDir = statSync(abs).isDirectory();
      } catch {
        isDir = false;
      }
      if (abs.startsWith('/') && !abs.startsWith('/dev') && isDir) {
        this.online = true;
        this.pooltype = 'file';
        this.path = `${abs.replace(/\/+$/, '')}/`;
        this.canSnapshot = snapshotCapable(abs, faults);
        if (this.canSnapshot) this.pooltype = 'rlnk';
      }
    }
    if (requireOnline && !this.online) ctx.errOut(`Local storage is offline: ${pyRepr(localpath)}`);
  }

  file(volname) {
    return join(this.path, volname);
  }

  /** Path of the local snapshot of an archive volume (next to the volume file). */
  snapshotPath(volname, uuid, vid) {
    return join(dirname(this.file(volname)), `sn${uuid}_${vid}.wyng1`);
  }

  /** The snapshot marker, if it belongs to this archive volume. */
  readSnapshot(volname, uuid, vid) {
    try {
      const m = JSON.parse(readFileSync(this.snapshotPath(volname, uuid, vid), 'utf8'));
      return m && m.uuid === uuid && m.vid === vid ? m : undefined;
    } catch {
      return undefined;
    }
  }

  writeSnapshot(volname, uuid, vid, session) {
    const st = statSync(this.file(volname), { bigint: true });
    writeFileSync(
      this.snapshotPath(volname, uuid, vid),
      `${JSON.stringify({
        uuid,
        vid,
        volume: volname,
        session,
        mtimeNs: st.mtimeNs.toString(),
        size: Number(st.size),
      })}\n`,
    );
  }

  /** rename_volume(): the local snapshot follows the archive volume to its new name. */
  moveSnapshot(oldName, newName, uuid, vid) {
    const m = this.readSnapshot(oldName, uuid, vid);
    if (!m || !existsSync(this.file(newName))) return;
    writeFileSync(this.snapshotPath(newName, uuid, vid), `${JSON.stringify({ ...m, volume: newName })}\n`);
    if (this.snapshotPath(oldName, uuid, vid) !== this.snapshotPath(newName, uuid, vid))
      this.removeSnapshot(oldName, uuid, vid);
  }

  removeSnapshot(volname, uuid, vid) {
    rmSync(this.snapshotPath(volname, uuid, vid), { force: true });
  }

  /** "Paired" = the snapshot records the volume's newest archive session. */
  paired(volname, uuid, vid, lastSession) {
    if (!this.canSnapshot || lastSession === undefined) return false;
    const m = this.readSnapshot(volname, uuid, vid);
    return m !== undefined && m.session === lastSession;
  }
}

/** A Btrfs subvolume root, as for Wyng; any directory with WYNG_FAKE_ANY_POOL=1. */
function snapshotCapable(abs, faults) {
  if (faults.noSnapshot.has(abs)) return false;
  if (anyDirIsPool()) return true;
  try {
    return statfsSync(abs).type === BTRFS_MAGIC && statSync(abs).ino === 256;
  } catch {
    return false;
  }
}

function pyFalsy(v) {
  return (
    v === null ||
    v === false ||
    v === 0 ||
    v === '' ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && v !== null && Object.keys(v).length === 0)
  );
}

/**
 * Wyng's get_configs_storage(): reads --local-from (first call before the banner with
 * archive=undefined, again after the archive is open). Returns the storage sets: each
 * { pool: LocalStorage, vols: [archive names] }.
 */
export function storageSets(ctx, opts, archive, { requireLocal, faults }) {
  const sets = [];
  const volSet = new Set();
  const fromlist = opts.vols_from;
  let storage;
  if (fromlist && existsSync(fromlist)) {
    let lists;
    try {
      lists = JSON.parse(readFileSync(fromlist, 'utf8'));
    } catch {
      throw selectionError('Empty/malformed json file');
    }
    if (lists === null || typeof lists !== 'object' || Array.isArray(lists)) {
      throw new PyCrash(
        'AttributeError',
        `'${Array.isArray(lists) ? 'list' : typeof lists}' object has no attribute 'items'`,
        'get_configs_storage',
      );
    }
    for (const [url, vols] of Object.entries(lists)) {
      if (pyFalsy(vols)) {
        ctx.errOut(`Empty vol list for ${url}`);
        continue;
      }
      if (!Array.isArray(vols))
        throw new PyCrash('TypeError', `'${typeof vols}' object is not subscriptable`, 'get_configs_storage');
      const names = [];
      for (const entry of vols) {
        if (archive) {
          if (!Array.isArray(entry) || entry.length !== 2) {
            const n = Array.isArray(entry) ? entry.length : 1;
            throw new PyCrash(
              'ValueError',
              n < 2 ? `not enough values to unpack (expected 2, got ${n})` : 'too many values to unpack (expected 2)',
              'get_configs_storage',
            );
          }
          const [vname, alias] = entry;
          if (alias && archive.has(vname)) archive.aliases.set(vname, String(alias));
          if (volSet.has(vname)) throw selectionError(`Duplicate volume name: ${vname}`);
          volSet.add(vname);
        }
        names.push(Array.isArray(entry) ? String(entry[0]) : String(entry));
      }
      sets.push({ pool: new LocalStorage(ctx, url, { requireOnline: requireLocal, faults }), vols: names });
    }
    if (sets.length === 0 && opts.import_other_from.length > 0) {
      storage = new LocalStorage(ctx, null, { requireOnline: false, faults });
      sets.push({ pool: storage, vols: [] });
    }
  } else {
    storage = new LocalStorage(ctx, opts.local || null, { requireOnline: requireLocal, faults });
    sets.push({ pool: storage, vols: [] });
  }
  return { storage, sets };
}
