// Text formats of the Python program we imitate: json.dumps() with its default separators and
// ensure_ascii, repr() of strings and floats, print() joining, and datetime.isoformat().

/** Python's json.dumps(value) (separators ", " and ": ", ensure_ascii=True). Maps keep key order. */
export function pyJson(value) {
  if (value === null || value === undefined) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
    return Number.isInteger(value) ? String(value) : pyFloat(value);
  }
  if (typeof value === 'string') return pyJsonString(value);
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  return `{${entries.map(([k, v]) => `${pyJsonString(String(k))}: ${pyJson(v)}`).join(', ')}}`;
}

function pyJsonString(s) {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    const c = s.charCodeAt(i);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** repr(float) for the epoch-seconds values used here (shortest round-trip digits). */
export function pyFloat(x) {
  return Number.isInteger(x) && Math.abs(x) < 1e16 ? `${x}.0` : String(x);
}

/** repr(str) as Python 3 prints it. */
export function pyRepr(s) {
  if (s === null || s === undefined) return 'None';
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else if (c >= 0x80 && c < 0xa0) out += `\\x${c.toString(16)}`;
    else out += ch;
  }
  return out + quote;
}

/** repr() of a tuple of strings. */
export function pyTuple(items) {
  return `(${items.map(pyRepr).join(', ')}${items.length === 1 ? ',' : ''})`;
}

/** print(*args): arguments joined by one space. */
export function pyJoin(...args) {
  return args.map((a) => String(a)).join(' ');
}

/** str.center(width) with CPython's placement of the odd pad character. */
export function pyCenter(s, width) {
  const marg = width - s.length;
  if (marg <= 0) return s;
  const left = Math.floor(marg / 2) + (marg & width & 1);
  return ' '.repeat(left) + s + ' '.repeat(marg - left);
}

/** len() of a str (code points). */
export function pyLen(s) {
  return [...s].length;
}

function pad(n, w = 2) {
  return String(n).padStart(w, '0');
}

/**
 * datetime.fromtimestamp(ts, utc).astimezone().isoformat(sep=" ") in the local zone (TZ):
 * `YYYY-MM-DD HH:MM:SS[.ffffff]+HH:MM`.
 */
export function isoLocal(ts) {
  let micros = Math.round(ts * 1e6);
  const secs = Math.floor(micros / 1e6);
  micros -= secs * 1e6;
  const d = new Date(secs * 1000);
  const off = -d.getTimezoneOffset();
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const frac = micros ? `.${pad(micros, 6)}` : '';
  return (
    `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${frac}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** time.strftime("%Y%m%d-%H%M%S", time.localtime(ts)). */
export function sessionStamp(ts) {
  const d = new Date(Math.floor(ts) * 1000);
  const day = `${pad(d.getFullYear(), 4)}${pad(d.getMonth() + 1)}${pad(d.getDate())}`;
  return `${day}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

/** str.isprintable() for the characters that matter here (controls and separators are not). */
export function isPrintable(s) {
  return !/[\u0000-\u001f\u007f-\u00a0\u00ad\u2028\u2029]/u.test(s);
}
