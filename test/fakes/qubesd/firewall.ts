// admin.vm.firewall.Set: each payload line is one rule in the API text form
// (`action=accept proto=tcp dst4=10.0.0.0/8 dstports=443-443 comment=…`). qubesd rejects a bad
// rule with a plain ValueError (no reply) and stores the rules in a canonical order.
import { drop, protocolError } from './errors.ts';
import { isAsciiBytes, parseIPv4, parseIPv6 } from './py.ts';

const OPTION_CHARS = /^[A-Za-z0-9:;,./\-_[\]]*$/;
const COMMENT_CHARS = /^[A-Za-z0-9:;,./\-_[\] ]*$/;

interface Rule {
  /** str() of each option, as qubesd saves it in firewall.xml */
  raw?: { dsthost?: string; dstports?: string };
  action?: string;
  proto?: string;
  dsthost?: string; // `dst4=…`, `dst6=…` or `dsthost=…`
  dstports?: string;
  icmptype?: string;
  specialtarget?: string;
  expire?: string;
  comment?: string;
}

function option(value: string): string {
  if (!OPTION_CHARS.test(value)) throw drop('ValueError: strange characters in rule');
  return value;
}

function dstHost(value: string): string {
  if (value.split('/').length > 2) throw drop(`ValueError: Too many /: ${value}`);
  if (!value.includes('/')) {
    if (parseIPv6(value) !== undefined) return `dst6=${option(`${value}/128`)}`;
    if (parseIPv4(value) !== undefined) return `dst4=${option(`${value}/32`)}`;
    if (!/^[a-z0-9._-]+$/.test(value)) throw drop('ValueError: Invalid hostname');
    return `dsthost=${option(value)}`;
  }
  const [host, prefix] = value.split('/') as [string, string];
  if (!/^[0-9]+$/.test(prefix)) throw drop('ValueError: bad prefix length');
  const p = Number(prefix);
  if (parseIPv6(host) !== undefined) {
    if (p > 128) throw drop('ValueError: netmask for IPv6 must be <= 128');
    return `dst6=${option(value)}`;
  }
  if (parseIPv4(host) !== undefined) {
    if (p > 32) throw drop('ValueError: netmask for IPv4 must be <= 32');
    return `dst4=${option(value)}`;
  }
  throw drop(`ValueError: Invalid IP address: ${host}`);
}

function ports(value: string): string {
  const parts = value.split('-');
  if (parts.length > 2) throw drop(`ValueError: ${value}`);
  const nums = parts.map((x) => {
    if (!/^\s*[+-]?[0-9]+\s*$/.test(x)) throw drop(`ValueError: invalid literal for int(): ${x}`);
    return Number(x);
  });
  const [lo, hi] = nums.length === 1 ? [nums[0] as number, nums[0] as number] : (nums as [number, number]);
  if (lo < 0 || hi < 0 || lo >= 65536 || hi >= 65536) throw drop('ValueError: Ports out of range');
  if (lo > hi) throw drop('ValueError: Invalid port range');
  return `${lo}-${hi}`;
}

function parseRule(line: string): Rule {
  const ci = line.indexOf('comment=');
  const options = ci < 0 ? line : line.slice(0, ci);
  const comment = ci < 0 ? '' : line.slice(ci + 'comment='.length);
  const rule: Rule = {};
  if (comment !== '') {
    if (!COMMENT_CHARS.test(comment)) throw drop('ValueError: strange characters comment');
    rule.comment = comment;
  }
  for (const opt of options.trim().split(' ')) {
    const eq = opt.indexOf('=');
    if (eq < 0) throw drop('ValueError: not enough values to unpack');
    const key = opt.slice(0, eq);
    const value = opt.slice(eq + 1);
    const slot = key === 'dst4' || key === 'dst6' || key === 'dstname' ? 'dsthost' : key;
    if ((rule as Record<string, unknown>)[slot] !== undefined) throw drop(`ValueError: Option '${slot}' already set`);
    switch (key) {
      case 'action':
        if (!['accept', 'drop'].includes(option(value))) throw drop(`ValueError: ${value}`);
        rule.action = value;
        break;
      case 'proto':
        if (!['tcp', 'udp', 'icmp'].includes(option(value))) throw drop(`ValueError: ${value}`);
        rule.proto = value;
        break;
      case 'specialtarget':
        if (option(value) !== 'dns') throw drop(`ValueError: ${value}`);
        rule.specialtarget = value;
        break;
      case 'dsthost':
      case 'dst4':
      case 'dst6':
      case 'dstname':
        rule.dsthost = dstHost(value);
        rule.raw = { ...rule.raw, dsthost: rule.dsthost.slice(rule.dsthost.indexOf('=') + 1) };
        break;
      case 'dstports': {
        rule.dstports = ports(value);
        const [lo, hi] = rule.dstports.split('-');
        rule.raw = { ...rule.raw, dstports: lo === hi ? (lo as string) : rule.dstports };
        break;
      }
      case 'icmptype':
        if (value.length > 3 || !/^[0-9]+$/.test(value) || Number(value) > 255) throw drop('ValueError: bad ICMP type');
        rule.icmptype = String(Number(value));
        break;
      case 'expire':
        if (!/^[0-9]+$/.test(option(value))) throw drop('ValueError: bad expiration time');
        rule.expire = value;
        break;
      case 'comment':
        if (!COMMENT_CHARS.test(value)) throw drop('ValueError: strange characters comment');
        rule.comment = value;
        break;
      default:
        throw drop('ValueError: Unknown firewall option');
    }
  }
  if (rule.dstports !== undefined && rule.proto !== 'tcp' && rule.proto !== 'udp') {
    throw drop("ValueError: dstports valid only for 'tcp' and 'udp' protocols");
  }
  if (rule.icmptype !== undefined && rule.proto !== 'icmp')
    throw drop("ValueError: icmptype valid only for 'icmp' protocol");
  if (rule.action === undefined) throw drop('AttributeError: action is required');
  return rule;
}

function ruleText(r: Rule): string {
  const parts: string[] = [`action=${r.action as string}`];
  if (r.expire !== undefined) parts.push(`expire=${r.expire}`);
  if (r.dsthost !== undefined) parts.push(r.dsthost);
  if (r.proto !== undefined) parts.push(`proto=${r.proto}`);
  if (r.specialtarget !== undefined) parts.push(`specialtarget=${r.specialtarget}`);
  if (r.dstports !== undefined) parts.push(`dstports=${r.dstports}`);
  if (r.icmptype !== undefined) parts.push(`icmptype=${r.icmptype}`);
  if (r.comment !== undefined) parts.push(`comment=${r.comment}`);
  return parts.join(' ');
}

/** The rules of a firewall.Set payload, as firewall.Get will list them. */
export function parseFirewallRules(payload: Buffer): string[] {
  if (!isAsciiBytes(payload)) throw protocolError('Rules contains non-ASCII characters');
  const lines = payload.toString('latin1').split(/\r\n|\n|\r|\x0b|\x0c|\x1c|\x1d|\x1e|\x85/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => ruleText(parseRule(l)));
}

/** firewall.Get omits rules whose `expire=` time has passed. */
export function activeRules(rules: readonly string[], nowSeconds = Date.now() / 1000): string[] {
  return rules.filter((r) => {
    const m = /(?:^| )expire=([0-9]+)(?: |$)/.exec(r);
    return m === null || Number(m[1]) >= nowSeconds;
  });
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * firewall.xml as qubesd's Firewall.save() writes it (version 2, lxml pretty print): each rule's
 * explicit options in qubesd's property order, expired rules left out.
 */
export function firewallXml(rules: readonly string[], nowSeconds = Date.now() / 1000): string {
  const out = ['<firewall version="2">', '  <rules>'];
  for (const line of activeRules(rules, nowSeconds)) {
    const r = parseRule(line);
    const props: Array<[string, string | undefined]> = [
      ['action', r.action],
      ['comment', r.comment],
      ['expire', r.expire],
      ['dsthost', r.raw?.dsthost],
      ['proto', r.proto],
      ['specialtarget', r.specialtarget],
      ['dstports', r.raw?.dstports],
      ['icmptype', r.icmptype],
    ];
    out.push('    <rule>', '      <properties>');
    for (const [k, v] of props)
      if (v !== undefined) out.push(`        <property name="${k}">${xmlEscape(v)}</property>`);
    out.push('      </properties>', '    </rule>');
  }
  out.push('  </rules>', '</firewall>');
  return `${out.join('\n')}\n`;
}
