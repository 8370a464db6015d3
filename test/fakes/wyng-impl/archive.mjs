// The fake's archive: a directory with
//   archive.ini                     marker (its presence = "an archive is here", as for Wyng)
//   wyng-fake.json                  metadata: uuid, updated_at, auth verifier, volumes, sessions
//   Vol_xxxxxx/S_<session>/manifest one line per chunk: "0" (all zeros) or the sha256 of the chunk
//   chunks/ab/<sha256>              chunk contents, stored once (content-addressed)
// Every change is written to a temp file and renamed into place.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { now, fakeHome } from './env.mjs';
import { pyFloat } from './pyfmt.mjs';
import { PyCrash } from './context.mjs';

export const STATE_FILE = 'wyng-fake.json';
export const FORMAT = 'wyng-fake-1';
export const DEFAULT_CHUNK = 256 * 1024;
const MDVOL = /^wyng-.*metadata$/;

export function isMdVol(name) {
  return MDVOL.test(name);
}

function atomicWrite(path, data) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

export class Archive {
  /** @param dir archive directory  @param spec the --dest URL as given */
  constructor(dir, spec, state) {
    this.dir = dir;
    this.spec = spec;
    this.state = state;
    this.manifestCache = new Map();
    /** archive volume name -> local alias from --local-from (this run only) */
    this.aliases = new Map();
  }

  static iniExists(dir) {
    return existsSync(join(dir, 'archive.ini'));
  }

  static create(dir, spec, { cipher, auth, chunksize, compression, hashtype }) {
    const state = {
      format: FORMAT,
      uuid: randomUUID(),
      updated_at: pyFloat(now()),
      cipher,
      encrypted: cipher !== 'off',
      auth: auth ?? null,
      chunksize,
      compression,
      hashtype,
      volumes: [],
      saves: cipher !== 'off' ? 2 : 0,
    };
    mkdirSync(join(dir, 'chunks'), { recursive: true });
    atomicWrite(join(dir, STATE_FILE), `${JSON.stringify(state, null, 1)}\n`);
    atomicWrite(
      join(dir, 'archive.ini'),
      `[var]\n; wyng test double archive (see test/fakes/README.md); metadata in ` +
        `${STATE_FILE}\nuuid = ${state.uuid}\nformat = ${FORMAT}\n`,
    );
    return new Archive(dir, spec, state);
  }

  /** Loads the archive metadata; a directory written by the real Wyng is not readable here. */
  static open(dir, spec) {
    let text;
    try {
      text = readFileSync(join(dir, STATE_FILE), 'utf8');
    } catch {
      throw new PyCrash(
        'ValueError',
        `Archive at '${spec}' was not made by the Wyng test double (no ${STATE_FILE}).`,
        'get_configs',
      );
    }
    let state;
    try {
      state = JSON.parse(text);
    } catch {
      throw new PyCrash('ValueError', `Corrupt archive metadata ${join(dir, STATE_FILE)}`, 'get_configs');
    }
    if (!state || state.format !== FORMAT || !Array.isArray(state.volumes)) {
      throw new PyCrash('ValueError', `Unsupported archive metadata format in ${join(dir, STATE_FILE)}`, 'get_configs');
    }
    return new Archive(dir, spec, state);
  }

  get uuid() {
    return this.state.uuid;
  }
  get encrypted() {
    return this.state.encrypted === true;
  }
  get chunksize() {
    return this.state.chunksize || DEFAULT_CHUNK;
  }
  get updatedAt() {
    return this.state.updated_at;
  }

  /** Writes the metadata (updated_at = now); `cache` also refreshes the local metadata cache. */
  save({ cache = true, metaDir } = {}) {
    this.state.updated_at = pyFloat(now());
    this.state.saves = (this.state.saves ?? 0) + 1;
    atomicWrite(join(this.dir, STATE_FILE), `${JSON.stringify(this.state, null, 1)}\n`);
    if (cache) this.writeCache(metaDir);
  }

  // ---- local metadata cache (Wyng: /var/lib/wyng or --meta-dir) -----------------------------

  cachePath(metaDir) {
    return join(metaDir || join(fakeHome(), 'meta'), this.uuid, 'updated_at');
  }

  /** True when the cache is missing or older than the archive (after an interrupted send). */
  cacheStale(metaDir) {
    try {
      return Number(readFileSync(this.cachePath(metaDir), 'utf8')) < Number(this.updatedAt);
    } catch {
      return false;
    }
  }

  cacheExists(metaDir) {
    return existsSync(this.cachePath(metaDir));
  }

  writeCache(metaDir) {
    const p = this.cachePath(metaDir);
    mkdirSync(join(p, '..'), { recursive: true });
    atomicWrite(p, this.updatedAt);
  }

  // ---- volumes and sessions ------------------------------------------------------------------

  get volumes() {
    return this.state.volumes;
  }

  vol(name) {
    return this.state.volumes.find((v) => v.name === name);
  }

  has(name) {
    return this.vol(name) !== undefined;
  }

  names() {
    return this.state.volumes.map((v) => v.name);
  }

  addVolume(name, desc = '') {
    let vid;
    do vid = `Vol_${randomBytes(3).toString('hex')}`;
    while (this.state.volumes.some((v) => v.vid === vid));
    const vol = { name, vid, desc, sessions: [] };
    this.state.volumes.push(vol);
    mkdirSync(join(this.dir, vid), { recursive: true });
    return vol;
  }

  removeVolume(name) {
    const vol = this.vol(name);
    this.state.volumes = this.state.volumes.filter((v) => v !== vol);
    rmSync(join(this.dir, vol.vid), { recursive: true, force: true });
    return vol;
  }

  /** Session names of a volume, oldest first. */
  sesnames(vol) {
    return vol.sessions.map((s) => s.name).sort();
  }

  session(vol, name) {
    return vol.sessions.find((s) => s.name === name);
  }

  last(vol) {
    const n = this.sesnames(vol);
    return n.length ? n[n.length - 1] : undefined;
  }

  /** Tag id -> set of session names (Wyng's vol.tags). */
  volTags(vol) {
    const tags = new Map();
    for (const s of [...vol.sessions].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      for (const [id] of s.tags) {
        if (!tags.has(id)) tags.set(id, new Set());
        tags.get(id).add(s.name);
      }
    }
    return tags;
  }

  // ---- data ------------------------------------------------------------------------------------

  chunkPath(hash) {
    return join(this.dir, 'chunks', hash.slice(0, 2), hash);
  }

  putChunk(buf) {
    const hash = sha256(buf);
    const p = this.chunkPath(hash);
    if (!existsSync(p)) {
      mkdirSync(join(p, '..'), { recursive: true });
      atomicWrite(p, buf);
    }
    return hash;
  }

  /** Chunk bytes, checked against their hash; undefined when missing or corrupt. */
  getChunk(hash) {
    let buf;
    try {
      buf = readFileSync(this.chunkPath(hash));
    } catch {
      return undefined;
    }
    return sha256(buf) === hash ? buf : undefined;
  }

  sessionDir(vol, name) {
    return join(this.dir, vol.vid, name);
  }

  /** Writes a session's manifest (into S-tmp first, then renamed). */
  writeManifest(vol, name, lines) {
    const tmp = join(this.dir, vol.vid, `${name}-tmp`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    writeFileSync(join(tmp, 'manifest'), `${lines.join('\n')}\n`);
    const final = this.sessionDir(vol, name);
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
    this.manifestCache.delete(`${vol.vid}/${name}`);
  }

  /** The session's manifest text (one line per chunk). */
  manifestText(vol, name) {
    const key = `${vol.vid}/${name}`;
    if (!this.manifestCache.has(key)) {
      let text;
      try {
        text = readFileSync(join(this.sessionDir(vol, name), 'manifest'), 'utf8');
      } catch {
        throw new PyCrash(
          'FileNotFoundError',
          `[Errno 2] No such file or directory: '${vol.vid}/${name}/manifest'`,
          'manifest',
        );
      }
      this.manifestCache.set(key, text);
    }
    return this.manifestCache.get(key);
  }

  manifest(vol, name) {
    const t = this.manifestText(vol, name);
    return t === '\n' || t === '' ? [] : t.replace(/\n$/, '').split('\n');
  }

  /**
   * Wyng's session.is_changed(): the first session, a size change, or chunks that differ from
   * the previous session (after a prune the merged-in changes count as this session's).
   */
  isChanged(vol, name) {
    const names = this.sesnames(vol);
    const i = names.indexOf(name);
    if (i <= 0) return true;
    const prev = this.session(vol, names[i - 1]);
    const cur = this.session(vol, name);
    if (prev.volsize !== cur.volsize) return true;
    return this.manifestText(vol, names[i - 1]) !== this.manifestText(vol, name);
  }

  /** Wyng's manifesthash == "0": no chunk of this session differs from the previous one. */
  deltaEmpty(vol, name) {
    const names = this.sesnames(vol);
    const i = names.indexOf(name);
    if (i <= 0) return false;
    return this.manifestText(vol, names[i - 1]) === this.manifestText(vol, name);
  }

  /** Removes session directories no metadata refers to (partial S-tmp dirs of interrupted runs). */
  removeStrayDirs(vol) {
    const keep = new Set(vol.sessions.map((s) => s.name));
    let entries = [];
    try {
      entries = readdirSync(join(this.dir, vol.vid));
    } catch {
      return;
    }
    for (const e of entries)
      if (e.startsWith('S') && !keep.has(e)) rmSync(join(this.dir, vol.vid, e), { recursive: true, force: true });
  }

  /** Deletes chunks that no manifest refers to any more. */
  collectGarbage() {
    const used = new Set();
    for (const vol of this.volumes) {
      for (const s of vol.sessions) for (const h of this.manifest(vol, s.name)) if (h !== '0') used.add(h);
    }
    const root = join(this.dir, 'chunks');
    let dirs = [];
    try {
      dirs = readdirSync(root);
    } catch {
      return;
    }
    for (const d of dirs) {
      for (const f of readdirSync(join(root, d))) if (!used.has(f)) rmSync(join(root, d, f), { force: true });
    }
  }
}

/** mtime of a file in nanoseconds, as a decimal string. */
export function mtimeNs(path) {
  return statSync(path, { bigint: true }).mtimeNs.toString();
}
