/**
 * A validator for systemd calendar expressions (`OnCalendar=`, systemd.time(7)) as used by
 * a profile's `schedule`. It accepts the common forms and gives a message that names the
 * part that is wrong; `systemd-analyze calendar` (when present) has the last word.
 *
 *   shorthands     minutely hourly daily weekly monthly quarterly semiannually yearly annually
 *   full form      [WEEKDAYS] [DATE] [TIME] [TIMEZONE]
 *     WEEKDAYS     Mon,Wed  Mon..Fri  Sat,Sun  (names of 3 letters or in full)
 *     DATE         [YEAR-]MONTH-DAY; each part `*`, a number, a list a,b, a range a..b,
 *                  a repetition a/n or *\/n; `~` before the day counts from the month's end
 *     TIME         HOUR:MINUTE[:SECOND] with the same parts (seconds may have a fraction)
 *     TIMEZONE     UTC, or an IANA name such as Europe/Berlin
 */

export const CALENDAR_SHORTHANDS = [
  'minutely',
  'hourly',
  'daily',
  'weekly',
  'monthly',
  'quarterly',
  'semiannually',
  'yearly',
  'annually',
] as const;

const WEEKDAYS: Readonly<Record<string, number>> = {
  mon: 1,
  monday: 1,
  tue: 2,
  tuesday: 2,
  wed: 3,
  wednesday: 3,
  thu: 4,
  thursday: 4,
  fri: 5,
  friday: 5,
  sat: 6,
  saturday: 6,
  sun: 7,
  sunday: 7,
};

const MAX_LENGTH = 256;

export type CalendarCheck = { ok: true } | { ok: false; problem: string };

class CalendarProblem extends Error {}

function fail(message: string): never {
  throw new CalendarProblem(message);
}

interface Field {
  name: string;
  min: number;
  max: number;
  fraction?: boolean;
}

const YEAR: Field = { name: 'year', min: 1970, max: 2199 };
const MONTH: Field = { name: 'month', min: 1, max: 12 };
const DAY: Field = { name: 'day', min: 1, max: 31 };
const HOUR: Field = { name: 'hour', min: 0, max: 23 };
const MINUTE: Field = { name: 'minute', min: 0, max: 59 };
const SECOND: Field = { name: 'second', min: 0, max: 59, fraction: true };

function number(text: string, field: Field): number {
  const pattern = field.fraction === true ? /^\d{1,4}(\.\d{1,6})?$/ : /^\d{1,4}$/;
  if (!pattern.test(text)) fail(`'${text}' is not a valid ${field.name}`);
  const n = Number(text);
  if (n < field.min || n >= field.max + 1) fail(`${field.name} ${text} is out of range ${field.min}-${field.max}`);
  return n;
}

/** One component: `*`, or a comma list of `N`, `A..B`, `N/STEP`, `*\/STEP`, `A..B/STEP`. */
function component(text: string, field: Field): void {
  if (text === '') fail(`the ${field.name} is empty`);
  if (text === '*') return;
  for (const item of text.split(',')) {
    if (item === '') fail(`empty item in the ${field.name} list '${text}'`);
    const [range, step, extra] = item.split('/');
    if (extra !== undefined) fail(`'${item}' has more than one '/'`);
    if (step !== undefined) {
      if (!/^\d{1,4}(\.\d{1,6})?$/.test(step) || Number(step) <= 0)
        fail(`repetition '/${step}' in the ${field.name} must be a positive number`);
      if (range === '*') continue;
    }
    const parts = range!.split('..');
    if (parts.length > 2) fail(`'${range}' is not a valid ${field.name} range`);
    if (parts.length === 2) {
      const from = number(parts[0]!, field);
      const to = number(parts[1]!, field);
      if (from > to) fail(`${field.name} range '${range}' goes backwards`);
    } else {
      number(parts[0]!, field);
    }
  }
}

function weekdays(text: string): void {
  if (!/[,.]/.test(text) && WEEKDAYS[text.toLowerCase()] === undefined) {
    fail(`'${text}' is not a weekday (Mon..Sun) nor a shorthand (${CALENDAR_SHORTHANDS.join(', ')})`);
  }
  for (const item of text.split(',')) {
    if (item === '') fail(`empty item in the weekday list '${text}'`);
    const parts = item.split('..');
    if (parts.length > 2) fail(`'${item}' is not a valid weekday range`);
    for (const p of parts) {
      if (WEEKDAYS[p.toLowerCase()] === undefined)
        fail(`unknown weekday '${p}' (use Mon, Tue, Wed, Thu, Fri, Sat, Sun)`);
    }
  }
}

function date(text: string): void {
  const tilde = text.indexOf('~');
  const normal = tilde >= 0 ? text.slice(0, tilde) + '-' + text.slice(tilde + 1) : text;
  if (tilde >= 0 && text.indexOf('~', tilde + 1) >= 0) fail(`'${text}' has more than one '~'`);
  const parts = normal.split('-');
  if (parts.length === 3) {
    if (tilde >= 0 && tilde < text.lastIndexOf('-')) fail(`'~' may only stand before the day in '${text}'`);
    const [y, m, d] = parts as [string, string, string];
    if (y !== '*' && /^\d{2}$/.test(y)) component(String(2000 + Number(y)), YEAR);
    else component(y, YEAR);
    component(m, MONTH);
    component(d, DAY);
  } else if (parts.length === 2) {
    component(parts[0]!, MONTH);
    component(parts[1]!, DAY);
  } else {
    fail(`'${text}' is not a date (use YYYY-MM-DD, MM-DD or *-*-*)`);
  }
}

function time(text: string): void {
  const parts = text.split(':');
  if (parts.length !== 2 && parts.length !== 3) fail(`'${text}' is not a time (use HH:MM or HH:MM:SS)`);
  component(parts[0]!, HOUR);
  component(parts[1]!, MINUTE);
  if (parts.length === 3) component(parts[2]!, SECOND);
}

function isTimezone(token: string): boolean {
  return /^(UTC|GMT|[A-Z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){1,2})$/.test(token);
}

function looksLikeDate(token: string): boolean {
  return /^[0-9*][0-9*.,/]*(-|~)/.test(token);
}

function looksLikeTime(token: string): boolean {
  return token.includes(':');
}

function check(expression: string): void {
  if (expression.length === 0) fail('the schedule is empty');
  if (expression.length > MAX_LENGTH) fail(`the schedule is longer than ${MAX_LENGTH} characters`);
  if (/[^\x20-\x7e]/.test(expression)) fail('the schedule contains characters that are not printable ASCII');
  const tokens = expression.trim().split(/\s+/);
  if (tokens.length === 1 && (CALENDAR_SHORTHANDS as readonly string[]).includes(tokens[0]!.toLowerCase())) return;
  let i = 0;
  let seen = 0;
  if (tokens[i] !== undefined && /^[A-Za-z]/.test(tokens[i]!) && !isTimezone(tokens[i]!)) {
    const word = tokens[i]!;
    if ((CALENDAR_SHORTHANDS as readonly string[]).includes(word.toLowerCase())) fail(`'${word}' must stand alone`);
    weekdays(word);
    i += 1;
    seen += 1;
  }
  if (tokens[i] !== undefined && looksLikeDate(tokens[i]!) && !looksLikeTime(tokens[i]!)) {
    date(tokens[i]!);
    i += 1;
    seen += 1;
  }
  if (tokens[i] !== undefined && looksLikeTime(tokens[i]!)) {
    time(tokens[i]!);
    i += 1;
    seen += 1;
  }
  if (seen === 0) {
    const t = tokens[0]!;
    fail(
      /^\d+$/.test(t)
        ? `'${t}' is neither a date nor a time (write e.g. ${t}:00 for a time)`
        : `'${t}' is not a weekday, a date or a time`,
    );
  }
  if (tokens[i] !== undefined && isTimezone(tokens[i]!)) i += 1;
  if (i < tokens.length) fail(`unexpected '${tokens[i]}' (the order is: weekdays, date, time, timezone)`);
}

/** Checks a systemd calendar expression; never throws. */
export function checkCalendar(expression: string): CalendarCheck {
  try {
    check(expression);
    return { ok: true };
  } catch (err) {
    if (err instanceof CalendarProblem) return { ok: false, problem: err.message };
    throw err;
  }
}
