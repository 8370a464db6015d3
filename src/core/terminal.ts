// Text from outside (archive metadata, Wyng's listing, a caller) shown to a person: control
// characters would let it rewrite the terminal (`kernelopts = "nopat\x1b[8m"` hides everything
// printed after it). Pure.

/**
 * C0 controls, DEL, C1 controls, and the Unicode controls that reorder or hide text (bidi
 * embeddings/overrides/isolates, zero-width and line/paragraph separators, BOM).
 */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
const UNSAFE_KEEP_LINES = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `text` made safe for a terminal: every unsafe character becomes a visible `\xNN` / `\uNNNN`.
 * `keepLines` keeps newlines and tabs (multi-line human output); without it they are escaped
 * too (one value on one line).
 */
export function escapeForTerminal(text: string, opts: { keepLines?: boolean } = {}): string {
  return text.replace(opts.keepLines === true ? UNSAFE_KEEP_LINES : UNSAFE, escapeChar);
}

/** Whether `text` holds a character escapeForTerminal would change (newlines/tabs allowed). */
export function hasUnsafeText(text: string): boolean {
  UNSAFE_KEEP_LINES.lastIndex = 0;
  return UNSAFE_KEEP_LINES.test(text);
}
