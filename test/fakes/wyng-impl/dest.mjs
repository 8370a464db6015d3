// --dest handling and Wyng's get_configs(): URL checks, destination state (exit 5/6), arch-init,
// opening and authenticating an existing archive, the metadata cache notice.
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { Archive, DEFAULT_CHUNK } from './archive.mjs';
import { authenticate, cancelAgent, getPassphrase, makeVerifier } from './auth.mjs';
import { PyCrash, authError, inputError, optionError, storageError } from './context.mjs';
import { LOCAL_ACTIONS, WRITE_ACTIONS } from './options.mjs';
import { isPrintable } from './pyfmt.mjs';

const URL_TYPES = ['ssh', 'file', 'qubes-ssh', 'qubes'];
const CIPHERS = {
  off: 'off',
  'xchacha20-ct': 'xchacha20-poly1305-ct',
  'xchacha20-msr': 'xchacha20-poly1305-msr',
  'xchacha20-dgr': 'xchacha20-poly1305-msr',
};
const COMPRESSORS = { zlib: '4', bz2: '9', zstd: '3' };

/** urllib.parse.urlparse() as far as Wyng uses it: scheme, netloc, path. */
export function urlParse(url) {
  let scheme = '';
  let rest = url;
  const m = /^([A-Za-z][A-Za-z0-9+\-.]*):/.exec(url);
  if (m) {
    scheme = m[1].toLowerCase();
    rest = url.slice(m[0].length);
  }
  let netloc = '';
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/);
    netloc = end < 0 ? rest.slice(2) : rest.slice(2, 2 + end);
    rest = end < 0 ? '' : rest.slice(2 + end);
  }
  const cut = rest.search(/[?#]/);
  const path = cut < 0 ? rest : rest.slice(0, cut);
  return { scheme, netloc, path };
}

/** os.path.normpath */
function normpath(p) {
  if (p === '') return '.';
  const n = posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** Destination(dest_url): raises OptionError/InputError for a bad --dest. */
export function parseDest(url) {
  if (!url) throw optionError('Missing dest specification.');
  if (!isPrintable(url)) throw inputError('[^control] char not allowed in dest.');
  const d = urlParse(url);
  if (!URL_TYPES.includes(d.scheme)) throw optionError(`'${d.scheme}' not an accepted dest type.`);
  if (
    (d.scheme === 'file' && (d.netloc || !d.path)) ||
    (['ssh', 'qubes', 'qubes-ssh'].includes(d.scheme) && !d.netloc) ||
    (d.scheme === 'qubes-ssh' && !/^[^:]+:.+$/.test(d.netloc))
  ) {
    throw optionError('Malformed --dest specification.');
  }
  return { spec: url, type: d.scheme, path: normpath(d.path) };
}

function isDir(p) {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Wyng's get_configs(): checks the destination, runs arch-init or opens + authenticates the
 * archive. Returns the Archive.
 */
export function getConfigs(ctx, opts, faults) {
  const dest = parseDest(opts.dest);
  const ro = !WRITE_ACTIONS.includes(opts.action);
  if (dest.type !== 'file' || faults.storage5) {
    if (dest.type !== 'file')
      ctx.errOut(`(Wyng test double: only file: destinations are supported, not ${dest.type}:)`);
    throw storageError(5, 'Destination not ready to receive commands.');
  }
  if (!ro) {
    try {
      mkdirSync(dest.path, { recursive: true });
    } catch {
      /* reported as a missing path below */
    }
  }
  if (!isDir(dest.path)) throw storageError(6, `Path '${dest.path}' not found.`);
  let writable = true;
  try {
    accessSync(dest.path, constants.W_OK | constants.X_OK);
  } catch {
    writable = false;
  }
  if (!writable && !ro) throw storageError(5, 'Destination not writable.');
  const hasIni = Archive.iniExists(dest.path);
  let umatch = false;
  if (hasIni) {
    try {
      umatch = typeof process.getuid !== 'function' || statSync(`${dest.path}/archive.ini`).uid === process.getuid();
    } catch {
      umatch = false;
    }
  }
  if (!umatch && !ro && opts.action !== 'arch-init') throw storageError(5, 'File ownership mis-match on destination.');
  if (
    (!hasIni || (faults.storage6 && opts.action !== 'arch-init')) &&
    ![...LOCAL_ACTIONS, 'arch-init'].includes(opts.action)
  ) {
    throw storageError(6, `Archive not found at '${dest.spec}'`);
  }
  if (opts.action === 'arch-init') {
    if (hasIni) throw storageError(5, `Archive already exists: ${dest.spec}`);
    const created = archInit(ctx, opts, dest);
    created.writeCache(opts.metadir);
    return created;
  }
  const archive = Archive.open(dest.path, dest.spec);
  if (faults.auth) throw authError('Could not decrypt/authenticate archive.');
  if (archive.encrypted) authenticate(ctx, archive, opts);
  if (archive.cacheStale(opts.metadir)) ctx.print('Updating metadata cache.');
  if (opts.metadir) mkdirSync(opts.metadir, { recursive: true });
  archive.writeCache(opts.metadir);
  return archive;
}

/** arch_init(): prints the settings, asks for a new passphrase unless --encrypt=off. */
function archInit(ctx, opts, dest) {
  ctx.print(`\nCreate new archive: '${opts.dest}'\n`);
  const cipher = opts.encrypt || 'xchacha20-dgr';
  cancelAgent(dest.spec);
  if (!(cipher in CIPHERS)) throw optionError('Invalid cipher option.');
  let auth = null;
  if (cipher !== 'off') {
    const pass = getPassphrase(ctx, { prompt: 'Enter new encryption passphrase: ', verify: true, cmd: opts.passcmd });
    auth = makeVerifier(pass);
  }
  ctx.print();
  ctx.print(`Encryption    : ${cipher}`, cipher === 'off' ? '' : `(${CIPHERS[cipher]})`);
  if (opts.hashtype && !['hmac-sha256', 'blake2b'].includes(opts.hashtype)) {
    throw optionError(`Hash function '${opts.hashtype}' is not available on this system.`);
  }
  const hashtype = cipher !== 'off' ? 'hmac-sha256' : 'blake2b';
  ctx.print('Data Hashing  :', hashtype);
  let compression = 'zstd';
  let level = '3';
  if (opts.compression) {
    const [c, l] = opts.compression.trim().split(':');
    compression = c.trim();
    level = (l ?? COMPRESSORS[compression] ?? '').trim();
    if (!(compression in COMPRESSORS) || !/^\d+$/.test(level)) throw optionError('Invalid compression spec.');
  }
  ctx.print(`Compression   : ${compression}:${level}`);
  let chunksize = DEFAULT_CHUNK;
  if (opts.chfactor) {
    const f = Number.parseInt(opts.chfactor, 10);
    if (Number.isNaN(f))
      throw new PyCrash('ValueError', `invalid literal for int() with base 10: '${opts.chfactor}'`, 'arch_init');
    if (!(f > 0 && f < 7)) throw optionError('Requested chunk size not supported.');
    chunksize = 32 * 1024 * 2 ** f;
    if (chunksize !== DEFAULT_CHUNK) ctx.print('Chunk size set:', chunksize);
  }
  return Archive.create(dest.path, dest.spec, {
    cipher,
    auth,
    chunksize,
    compression: `${compression}:${level}`,
    hashtype,
  });
}
