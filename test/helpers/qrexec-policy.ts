/**
 * A checker for the qrexec policy line format of Qubes 4.2+ (design.md "qrexec services"), strict enough to
 * catch what makes the real engine refuse a whole policy — used to test our policy file in CI
 * without the engine. Written from the format description, not from the engine's code.
 */

export interface PolicyRule {
  line: number;
  service: string;
  argument: string;
  source: string;
  target: string;
  action: 'allow' | 'deny' | 'ask';
  options: Record<string, string>;
}

export interface PolicyCheck {
  rules: PolicyRule[];
  errors: string[];
}

const SERVICE = /^[A-Za-z0-9._-]+$/;
const ARGUMENT = /^\+[A-Za-z0-9._+-]*$/;
const QUBE = /^[A-Za-z][A-Za-z0-9_.-]{0,30}$/;
const TAG = /^[A-Za-z0-9_.-]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TYPES = new Set(['AppVM', 'DispVM', 'TemplateVM', 'StandaloneVM', 'AdminVM']);

const OPTIONS: Record<PolicyRule['action'], ReadonlySet<string>> = {
  allow: new Set(['target', 'user', 'notify', 'autostart']),
  ask: new Set(['target', 'default_target', 'user', 'notify', 'autostart']),
  deny: new Set(['notify']),
};
const BOOLEAN_OPTIONS = new Set(['notify', 'autostart']);

/** A policy file name the engine reads (other names are ignored, bad ones break loading). */
export function policyFileNameProblem(name: string): string | undefined {
  if (!name.endsWith('.policy')) return 'not a .policy file (ignored by qrexec)';
  if (name.startsWith('.')) return 'starts with "." (ignored by qrexec)';
  if (!/^[0-9a-z_.-]+$/.test(name))
    return 'name may only use 0-9 a-z _ . - (one bad name makes the whole policy unloadable)';
  return undefined;
}

function tokenProblem(token: string, role: 'source' | 'target' | 'redirect'): string | undefined {
  if (token === '*' || token === 'dom0' || token === '@adminvm' || token === '@anyvm') {
    if (role === 'redirect' && (token === '*' || token === '@anyvm')) return `${token} is not a redirect target`;
    return undefined;
  }
  if (token === '@default') return role === 'target' ? undefined : '@default is only a TARGET';
  if (token === '@dispvm') return role === 'source' ? '@dispvm is not a SOURCE' : undefined;
  if (token.startsWith('@dispvm:@tag:')) return TAG.test(token.slice(13)) ? undefined : 'empty or bad tag';
  if (token.startsWith('@dispvm:')) return QUBE.test(token.slice(8)) ? undefined : 'bad disposable template name';
  if (token.startsWith('@tag:'))
    return role === 'redirect'
      ? '@tag: is not a redirect target'
      : TAG.test(token.slice(5))
        ? undefined
        : 'empty or bad tag';
  if (token.startsWith('@type:'))
    return role === 'redirect'
      ? '@type: is not a redirect target'
      : TYPES.has(token.slice(6))
        ? undefined
        : 'unknown qube type';
  if (token.startsWith('uuid:')) return UUID.test(token.slice(5)) ? undefined : 'bad uuid';
  if (token.startsWith('@')) return `unknown token ${token}`;
  return QUBE.test(token) ? undefined : `invalid qube name ${token}`;
}

function isDom0(token: string | undefined): boolean {
  return token === 'dom0' || token === '@adminvm';
}

/**
 * Checks one policy file's text. `quirks42` also flags what the Qubes 4.2 engine accepts but
 * fails on at evaluation (`ask target=@adminvm default_target=@adminvm`).
 */
export function checkPolicy(text: string, opts: { quirks42?: boolean } = {}): PolicyCheck {
  const rules: PolicyRule[] = [];
  const errors: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const err = (msg: string): void => void errors.push(`line ${line}: ${msg}`);
    if (trimmed.startsWith('!')) {
      const [directive, ...args] = trimmed.split(/\s+/);
      const arity: Record<string, number> = {
        '!include': 1,
        '!include-dir': 1,
        '!include-service': 3,
        '!compat-4.0': 0,
      };
      if (!(directive! in arity)) return err(`unknown directive ${directive}`);
      if (args.length !== arity[directive!]) return err(`${directive} takes ${arity[directive!]} argument(s)`);
      return;
    }
    if (trimmed.includes('#')) return err('"#" inside a rule (no trailing comments)');
    const fields = trimmed.split(/\s+/);
    if (fields.length < 5) return err('a rule needs SERVICE ARGUMENT SOURCE TARGET ACTION');
    const [service, argument, source, target, action, ...options] = fields as [
      string,
      string,
      string,
      string,
      string,
      ...string[],
    ];
    if (service !== '*' && !SERVICE.test(service)) err(`invalid service name ${service}`);
    if (argument !== '*' && !ARGUMENT.test(argument)) err(`invalid argument ${argument} (must be * or start with +)`);
    if (service === '*' && argument !== '*') err('a * service requires a * argument');
    const sp = tokenProblem(source, 'source');
    if (sp !== undefined) err(`source: ${sp}`);
    const tp = tokenProblem(target, 'target');
    if (tp !== undefined) err(`target: ${tp}`);
    if (action !== 'allow' && action !== 'deny' && action !== 'ask') return err(`invalid action ${action}`);
    const parsed: Record<string, string> = {};
    for (const opt of options) {
      const eq = opt.indexOf('=');
      if (eq <= 0) {
        err(`invalid option ${opt}`);
        continue;
      }
      const key = opt.slice(0, eq);
      const value = opt.slice(eq + 1);
      if (!OPTIONS[action].has(key)) err(`option ${key}= is not allowed with ${action}`);
      if (key in parsed) err(`option ${key}= given twice`);
      if (BOOLEAN_OPTIONS.has(key) && value !== 'yes' && value !== 'no') err(`${key}= takes yes or no`);
      if (key === 'target' || key === 'default_target') {
        const rp = tokenProblem(value, 'redirect');
        if (rp !== undefined || value === '@default') err(`${key}=${value}: ${rp ?? 'not a redirect target'}`);
      }
      parsed[key] = value;
    }
    if (target === '@default' && action === 'allow' && parsed.target === undefined)
      err('allow with target @default needs target=');
    if (opts.quirks42 === true && action === 'ask' && isDom0(parsed.target) && isDom0(parsed.default_target)) {
      err('ask target=dom0 default_target=dom0 makes the Qubes 4.2 engine fail (design.md "qrexec services")');
    }
    rules.push({ line, service, argument, source, target, action, options: parsed });
  });
  return { rules, errors };
}

/** The same text with the commented example rules (`# wyng.…`) enabled. */
export function enableExamples(text: string): string {
  return text.replace(/^# (wyng\.)/gm, '$1');
}
