// Reader of a qube's `firewall.xml` (in the metadata tar: `appvms/NAME/firewall.xml`,
// `vm-templates/NAME/firewall.xml`) into firewall rules in the Admin API text form that
// `admin.vm.firewall.Get` answers, one rule per line, e.g.
//   action=accept proto=tcp dsthost=www.qubes-os.org dstports=443-443
//   action=accept dst4=192.168.0.0/24 proto=tcp
// Format version 2 (Qubes ≥ 4.0):
//   <firewall version="2"><rules><rule><properties>
//     <property name="action">accept</property> …
//   </properties></rule>…</rules></firewall>
// Format version 1 (Qubes 3.x, still loaded by qubesd): <QubesFirewallRules policy="allow|deny"
// dns="…" icmp="…"><rule address="…" netmask="…" proto="…" port="…" toport="…"/>…
// Values are checked as qubesd checks them (qubes/firewall.py); the text of each rule is what
// qubesd would print for it: options in the order action, expire, the destination
// (dst4/dst6/dsthost), proto, specialtarget, dstports, icmptype, comment; a bare address gets
// its full prefix (/32, /128); a single port becomes `N-N`.
import { isIPv4, isIPv6 } from 'node:net';
import { WqError } from '../errors.ts';
import type { FirewallRule } from '../qubes/model.ts';
import { printable } from '../names.ts';
import { DEFAULT_XML_LIMITS, parseSafeXml, type XNode } from './safe-xml.ts';

export interface ParseFirewallXmlOptions {
  /** name of the input in messages (default `firewall.xml`) */
  source?: string;
  /** when given (seconds since the epoch), rules whose `expire` has passed are left out, as qubesd does */
  now?: number;
  /** maximum number of rules (default 10,000) */
  maxRules?: number;
}

/** The rule set qubesd reports for a qube without firewall.xml (allow everything). */
export const DEFAULT_FIREWALL_RULES: readonly FirewallRule[] = Object.freeze(['action=accept']);

const RULE_KEYS = ['action', 'proto', 'dsthost', 'dstports', 'icmptype', 'specialtarget', 'expire', 'comment'] as const;
type RuleKey = (typeof RULE_KEYS)[number];

/** characters qubesd accepts in any rule option (string.ascii_letters + digits + ":;,./-_[]") */
const OPTION_SAFE = /^[A-Za-z0-9:;,./\-_[\]]*$/;
const COMMENT_SAFE = /^[A-Za-z0-9:;,./\-_[\] ]*$/;

class RuleError extends Error {}

interface Dest {
  key: 'dst4' | 'dst6' | 'dsthost';
  value: string;
}

function dest(untrusted: string, prefixlen?: number): Dest {
  const slashes = untrusted.split('/').length - 1;
  if (slashes > 1) throw new RuleError(`too many '/' in '${printable(untrusted)}'`);
  if (slashes === 0) {
    if (isIPv6(untrusted)) {
      const len = prefixlen ?? 128;
      if (len < 0 || len > 128) throw new RuleError('netmask for IPv6 must be between 0 and 128');
      return { key: 'dst6', value: `${untrusted}/${len}` };
    }
    if (isIPv4(untrusted)) {
      const len = prefixlen ?? 32;
      if (len < 0 || len > 32) throw new RuleError('netmask for IPv4 must be between 0 and 32');
      return { key: 'dst4', value: `${untrusted}/${len}` };
    }
    if (!/^[a-z0-9._-]+$/.test(untrusted)) throw new RuleError(`invalid host name '${printable(untrusted)}'`);
    return { key: 'dsthost', value: untrusted };
  }
  const [host, len] = untrusted.split('/') as [string, string];
  if (!/^[0-9]+$/.test(len)) throw new RuleError(`bad prefix length in '${printable(untrusted)}'`);
  const n = Number(len);
  if (isIPv6(host)) {
    if (n > 128) throw new RuleError('netmask for IPv6 must be <= 128');
    return { key: 'dst6', value: untrusted };
  }
  if (isIPv4(host)) {
    if (n > 32) throw new RuleError('netmask for IPv4 must be <= 32');
    return { key: 'dst4', value: untrusted };
  }
  throw new RuleError(`invalid IP address '${printable(host)}'`);
}

function ports(untrusted: string): string {
  const parts = untrusted.split('-');
  if (parts.length > 2 || parts.some((p) => !/^[0-9]{1,5}$/.test(p)))
    throw new RuleError(`invalid port or port range '${printable(untrusted)}'`);
  const lo = Number(parts[0]);
  const hi = Number(parts[parts.length - 1]);
  if (lo >= 65536 || hi >= 65536) throw new RuleError('ports out of range');
  if (lo > hi) throw new RuleError('invalid port range');
  return `${lo}-${hi}`;
}

/** One rule's options (as read) → the Admin API line; throws RuleError when qubesd would refuse it. */
export function firewallRuleText(opts: Partial<Record<RuleKey, string>>, now?: number): FirewallRule | null {
  for (const [k, v] of Object.entries(opts)) {
    if (v === undefined) continue;
    if (k === 'comment' ? !COMMENT_SAFE.test(v) : !OPTION_SAFE.test(v))
      throw new RuleError(`strange characters in ${k} '${printable(v)}'`);
  }
  const out: string[] = [];
  const action = opts.action;
  if (action === undefined) throw new RuleError('rule without action');
  if (action !== 'accept' && action !== 'drop') throw new RuleError(`invalid action '${printable(action)}'`);
  out.push(`action=${action}`);
  if (opts.expire !== undefined) {
    if (!/^[0-9]{1,12}$/.test(opts.expire)) throw new RuleError(`bad expiration time '${printable(opts.expire)}'`);
    if (now !== undefined && Number(opts.expire) < now) return null;
    out.push(`expire=${opts.expire}`);
  }
  if (opts.dsthost !== undefined) {
    const d = dest(opts.dsthost);
    out.push(`${d.key}=${d.value}`);
  }
  const proto = opts.proto;
  if (proto !== undefined) {
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'icmp')
      throw new RuleError(`invalid proto '${printable(proto)}'`);
    out.push(`proto=${proto}`);
  }
  if (opts.specialtarget !== undefined) {
    if (opts.specialtarget !== 'dns') throw new RuleError(`invalid specialtarget '${printable(opts.specialtarget)}'`);
    out.push('specialtarget=dns');
  }
  if (opts.dstports !== undefined) {
    if (proto !== 'tcp' && proto !== 'udp') throw new RuleError("dstports valid only for 'tcp' and 'udp' protocols");
    out.push(`dstports=${ports(opts.dstports)}`);
  }
  if (opts.icmptype !== undefined) {
    if (proto !== 'icmp') throw new RuleError("icmptype valid only for 'icmp' protocol");
    if (!/^[0-9]{1,3}$/.test(opts.icmptype) || Number(opts.icmptype) > 255)
      throw new RuleError(`bad ICMP type '${printable(opts.icmptype)}'`);
    out.push(`icmptype=${Number(opts.icmptype)}`);
  }
  if (opts.comment !== undefined) out.push(`comment=${opts.comment}`);
  return out.join(' ');
}

/** Parses a firewall.xml (bytes or text). Throws WqError('input') naming the rule and the problem. */
export function parseFirewallXml(input: Uint8Array | string, options: ParseFirewallXmlOptions = {}): FirewallRule[] {
  const source = options.source ?? 'firewall.xml';
  const maxRules = options.maxRules ?? 10_000;
  const fail = (what: string): never => {
    throw new WqError('input', `Refusing ${source}: ${what}.`);
  };
  const root = parseSafeXml(input, ['firewall', 'QubesFirewallRules'], source, {
    ...DEFAULT_XML_LIMITS,
    maxBytes: 4 * 1024 * 1024,
    maxDepth: 8,
  });
  const version = root.attrs['version'] ?? '1';
  const rules: FirewallRule[] = [];
  const add = (i: number, opts: Partial<Record<RuleKey, string>>): void => {
    let text: FirewallRule | null;
    try {
      text = firewallRuleText(opts, options.now);
    } catch (err) {
      if (err instanceof RuleError) return fail(`rule #${i + 1}: ${err.message}`);
      throw err;
    }
    if (text !== null) rules.push(text);
  };
  if (root.tag === 'firewall' && version === '2') {
    const rulesNodes = root.children.filter((c) => c.tag === 'rules');
    if (rulesNodes.length !== 1) fail('expected exactly one <rules> element');
    const ruleNodes = (rulesNodes[0] as XNode).children;
    if (ruleNodes.length > maxRules) fail(`more than ${maxRules} rules`);
    for (const [i, r] of ruleNodes.entries()) {
      if (r.tag !== 'rule') fail(`unexpected element <${printable(r.tag, 40)}> in <rules>`);
      const props = r.children.filter((c) => c.tag === 'properties');
      if (props.length !== 1 || r.children.length !== 1)
        fail(`rule #${i + 1}: expected exactly one <properties> element`);
      const opts: Partial<Record<RuleKey, string>> = {};
      for (const p of (props[0] as XNode).children) {
        const name = p.attrs['name'];
        if (p.tag !== 'property' || name === undefined)
          fail(`rule #${i + 1}: unexpected element <${printable(p.tag, 40)}> without name`);
        if (!(RULE_KEYS as readonly string[]).includes(name as string))
          fail(`rule #${i + 1}: unknown rule option '${printable(name as string, 40)}'`);
        const key = name as RuleKey;
        if (opts[key] !== undefined) fail(`rule #${i + 1}: option '${key}' set twice`);
        opts[key] = p.text;
      }
      add(i, opts);
    }
    return rules;
  }
  if (version !== '1') fail(`unsupported firewall.xml version '${printable(version, 20)}'`);
  if (root.tag !== 'QubesFirewallRules') fail(`version 1 file with document element <${root.tag}>`);
  parseV1(root, fail, add, maxRules);
  return rules;
}

function parseV1(
  root: XNode,
  fail: (what: string) => never,
  add: (i: number, opts: Partial<Record<RuleKey, string>>) => void,
  maxRules: number,
): void {
  // qubesd: first a dns rule and an icmp rule with the actions of the `dns`/`icmp` attributes
  // (default: the policy), then every <rule> with the opposite of the policy, then, when the
  // policy is allow, a final accept-all rule.
  const policy = root.attrs['policy'];
  if (policy !== 'allow' && policy !== 'deny')
    return fail(`version 1 policy must be allow or deny, not '${printable(policy ?? '', 20)}'`);
  const act = (key: string): 'accept' | 'drop' => ((root.attrs[key] ?? policy) === 'allow' ? 'accept' : 'drop');
  // rule numbers in messages count the <rule> elements; the implied rules are not numbered
  const collect = add;
  collect(-1, { action: act('dns'), specialtarget: 'dns' });
  collect(-1, { action: act('icmp'), proto: 'icmp' });
  const ruleAction = policy === 'allow' ? 'drop' : 'accept';
  if (root.children.length > maxRules) fail(`more than ${maxRules} rules`);
  for (const [i, r] of root.children.entries()) {
    const opts: Partial<Record<RuleKey, string>> = { action: ruleAction };
    const address = r.attrs['address'];
    const netmask = r.attrs['netmask'];
    if (address !== undefined && address !== '') {
      if (netmask !== undefined && !/^[0-9]{1,3}$/.test(netmask))
        fail(`rule #${i + 1}: bad netmask '${printable(netmask, 20)}'`);
      try {
        const d = dest(address, netmask === undefined ? 32 : Number(netmask));
        opts.dsthost = d.value;
      } catch (err) {
        if (err instanceof RuleError) fail(`rule #${i + 1}: ${err.message}`);
        throw err;
      }
    }
    const port = r.attrs['port'];
    const toport = r.attrs['toport'];
    if (port) opts.dstports = toport ? `${port}-${toport}` : port;
    let proto: string | undefined = r.attrs['proto'];
    if (opts.dstports !== undefined && !proto) proto = 'tcp';
    if (proto !== undefined && proto !== '' && proto !== 'any') opts.proto = proto;
    if (r.attrs['expire']) opts.expire = r.attrs['expire'];
    collect(i, opts);
  }
  if (policy === 'allow') collect(root.children.length, { action: 'accept' });
}
