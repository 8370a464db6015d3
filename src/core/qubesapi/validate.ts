// Validation of everything that goes into an Admin API request, BEFORE anything is sent.
//
// Why this is strict (docs/design.md "Admin API contract"):
// - qubesd splits the header `method+arg src name dest` on single spaces: a space in any part
//   shifts the fields, and a NUL ends the header. qubesd answers such requests with nothing.
// - The same calls may later go through qrexec, which replaces every character outside
//   `[A-Za-z0-9_.+-]` in the service name and argument by `_` — silently addressing a
//   different property/feature/tag. So arguments must stay inside that set.
// - qubesd's own character rules: qube names (qubes.vm.validate_name), feature names
//   `[A-Za-z0-9_.-]+`, tags `[A-Za-z0-9_-]+`, pool names `[A-Za-z0-9_.-]+`, feature values
//   printable ASCII, property values ASCII.
// A violation is a WqError of kind `input` (exit 9) with a message naming the bad part.
import { WqError } from '../errors.ts';
import { printable, qubeNameProblem } from '../names.ts';

/** qubesd drops requests over this many bytes (QubesDaemonProtocol.buffer_size). */
export const MAX_REQUEST_BYTES = 65536;

/** Characters qrexec keeps in a service argument; everything else becomes `_`. */
const QREXEC_ARG = /^[A-Za-z0-9_.+-]*$/;
const METHOD = /^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;
const PROPERTY = /^[A-Za-z_][A-Za-z0-9_]*$/;
const FEATURE = /^[A-Za-z0-9_.-]+$/;
const TAG = /^[A-Za-z0-9_-]+$/;
const SIMPLE = /^[A-Za-z0-9_.-]+$/; // labels, pools, volumes, ports, device option keys
const DEVCLASS = /^[A-Za-z0-9_-]+$/; // becomes part of a method name: no dots
const DEVICE_ID = /^[A-Za-z0-9_.:-]+$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

function refuse(what: string, value: string, rule: string): never {
  throw new WqError('input', `Invalid ${what} '${printable(value)}' for the Admin API: ${rule}.`);
}

function check(what: string, value: string, re: RegExp, rule: string, max = 255): string {
  if (value.length === 0) refuse(what, value, 'empty');
  if (value.length > max) refuse(what, value, `longer than ${max} characters`);
  if (!re.test(value)) refuse(what, value, rule);
  return value;
}

/** A destination: a qube name as qubesd accepts it (`dom0` included). */
export function checkQubeName(name: string, what = 'qube name'): string {
  const problem = qubeNameProblem(name);
  if (problem !== undefined) refuse(what, name, problem);
  return name;
}

export function checkMethod(method: string): string {
  return check('method name', method, METHOD, 'letters, digits, "_" and dots only', 128);
}

/** Any argument (possibly empty): qrexec's safe set, no space, no NUL. */
export function checkArg(arg: string): string {
  if (arg.length > 255) refuse('argument', arg, 'longer than 255 characters');
  if (!QREXEC_ARG.test(arg)) refuse('argument', arg, 'only letters, digits, "_", ".", "+" and "-" are allowed');
  return arg;
}

export const checkPropertyName = (name: string): string =>
  check('property name', name, PROPERTY, 'a letter or "_" first, then letters, digits and "_"', 64);
export const checkFeatureName = (name: string): string =>
  check('feature name', name, FEATURE, 'only letters, digits, "_", "." and "-" are allowed');
export const checkTagName = (name: string): string =>
  check('tag name', name, TAG, 'only letters, digits, "_" and "-" are allowed');
export const checkLabelName = (name: string): string =>
  check('label name', name, SIMPLE, 'only letters, digits, "_", "." and "-" are allowed', 64);
export const checkPoolName = (name: string): string =>
  check('pool name', name, SIMPLE, 'only letters, digits, "_", "." and "-" are allowed');
export const checkVolumeName = (name: string): string =>
  check('volume name', name, SIMPLE, 'only letters, digits, "_", "." and "-" are allowed', 64);
export const checkDeviceClass = (name: string): string =>
  check('device class', name, DEVCLASS, 'only letters, digits, "_" and "-" are allowed', 64);
export const checkPortId = (port: string): string =>
  check('device port', port, SIMPLE, 'only letters, digits, "_", "." and "-" are allowed');
export const checkDeviceOptionKey = (key: string): string =>
  check('device option name', key, SIMPLE, 'only letters, digits, "_", "." and "-" are allowed', 64);

/** A device identity (`*` = whatever is in the port); `:` is sent as `+` in the argument. */
export function checkDeviceId(id: string): string {
  if (id === '*') return id;
  return check('device identity', id, DEVICE_ID, 'only letters, digits, "_", ".", ":" and "-" are allowed');
}

/**
 * A property value. qubesd decodes the payload as ASCII (`Non-ASCII bytes in property value`)
 * and its str properties are printable text; a newline would also break Get/GetAll parsing.
 */
export function checkPropertyValue(name: string, value: string): string {
  if (!PRINTABLE_ASCII.test(value)) refuse(`value of property ${name}`, value, 'only printable ASCII is allowed');
  return value;
}

/** qubesd: feature values must match `[\x20-\x7E]*` (ProtocolError otherwise). */
export function checkFeatureValue(name: string, value: string): string {
  if (!PRINTABLE_ASCII.test(value)) refuse(`value of feature ${name}`, value, 'only printable ASCII is allowed');
  return value;
}

/** One firewall rule line (admin.vm.firewall.Set: ASCII, one rule per line). */
export function checkFirewallRule(rule: string): string {
  if (rule.trim() === '') refuse('firewall rule', rule, 'empty');
  if (!PRINTABLE_ASCII.test(rule)) refuse('firewall rule', rule, 'only printable ASCII on one line is allowed');
  return rule;
}

/** Device option values are sent quoted (`'` escaped as `\'`); printable ASCII only. */
export function checkDeviceOptionValue(key: string, value: string): string {
  if (!PRINTABLE_ASCII.test(value)) refuse(`value of device option ${key}`, value, 'only printable ASCII is allowed');
  if (value.endsWith('\\')) refuse(`value of device option ${key}`, value, 'must not end with a backslash');
  return value;
}
