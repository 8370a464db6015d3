// firewall.xml → Admin API rule lines (admin.vm.firewall.Get form), as qubesd prints them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_FIREWALL_RULES, parseFirewallXml } from '../../src/core/qubesxml/index.ts';
import { QUBES_XML_FIXTURES, qubesdTranscriptsDir } from '../helpers/test-data.ts';

function rule(props: Record<string, string>): string {
  return `<rule><properties>${Object.entries(props)
    .map(([k, v]) => `<property name="${k}">${v}</property>`)
    .join('')}</properties></rule>`;
}
const fw = (...rules: string[]): string =>
  `<?xml version='1.0' encoding='UTF-8'?>\n<firewall version="2">\n  <rules>\n` +
  `${rules.join('\n')}\n  </rules>\n</firewall>\n`;

test("the fixture (qubes-core-admin's own v2 example) in Admin API form", () => {
  assert.deepEqual(parseFirewallXml(readFileSync(join(QUBES_XML_FIXTURES, 'v4-firewall.xml'))), [
    'action=accept specialtarget=dns',
    'action=accept proto=icmp',
    'action=accept proto=tcp dstports=22-22',
    'action=accept dsthost=www.qubes-os.org proto=tcp dstports=443-443',
    'action=accept dst4=192.168.0.0/24 proto=tcp',
    'action=drop',
  ]);
});

test('the default rule set equals what qubesd answered for a qube without firewall.xml', () => {
  const doc = JSON.parse(readFileSync(join(qubesdTranscriptsDir(), 'admin.vm.firewall.Get.json'), 'utf8')) as {
    exchanges: Array<{ response: string }>;
  };
  const body = (doc.exchanges[0] as { response: string }).response.slice(2);
  assert.deepEqual(
    [...DEFAULT_FIREWALL_RULES],
    body.split('\n').filter((l) => l !== ''),
  );
});

test('option order, prefixes, port ranges, ICMP, IPv6, comment and expire', () => {
  const xml = fw(
    // the order in the file does not matter: qubesd prints action, expire, dst, proto, specialtarget, ports/icmptype,
    // comment
    rule({ comment: 'web: https only', dstports: '443', proto: 'tcp', dsthost: '10.1.2.3', action: 'accept' }),
    rule({ action: 'accept', proto: 'udp', dsthost: '2001:db8::1', dstports: '5000-5010' }),
    rule({ action: 'accept', proto: 'icmp', icmptype: '8' }),
    rule({ action: 'accept', dsthost: 'fd00::/8' }),
    rule({ action: 'drop', expire: '4102444800', dsthost: 'example.com' }),
    rule({ action: 'drop', expire: '1000' }),
    rule({ action: 'drop' }),
  );
  assert.deepEqual(parseFirewallXml(xml), [
    'action=accept dst4=10.1.2.3/32 proto=tcp dstports=443-443 comment=web: https only',
    'action=accept dst6=2001:db8::1/128 proto=udp dstports=5000-5010',
    'action=accept proto=icmp icmptype=8',
    'action=accept dst6=fd00::/8',
    'action=drop expire=4102444800 dsthost=example.com',
    'action=drop expire=1000',
    'action=drop',
  ]);
  // with a clock: rules that expired are left out, as qubesd does
  assert.deepEqual(parseFirewallXml(xml, { now: 2_000_000_000 }).length, 6);
  assert.ok(!parseFirewallXml(xml, { now: 2_000_000_000 }).includes('action=drop expire=1000'));
});

test('an empty rule list is kept empty (the qube then drops everything)', () => {
  assert.deepEqual(parseFirewallXml('<firewall version="2"><rules/></firewall>'), []);
});

test('version 1 (Qubes 3.x) files are translated as qubesd does', () => {
  const v1deny = `<QubesFirewallRules policy="deny" dns="allow" icmp="allow">
    <rule address="192.168.1.0" netmask="24" proto="tcp" port="80" toport="81"/>
    <rule address="example.org" port="22"/>
  </QubesFirewallRules>`;
  assert.deepEqual(parseFirewallXml(v1deny), [
    'action=accept specialtarget=dns',
    'action=accept proto=icmp',
    'action=accept dst4=192.168.1.0/24 proto=tcp dstports=80-81',
    'action=accept dsthost=example.org proto=tcp dstports=22-22',
  ]);
  const v1allow =
    `<QubesFirewallRules policy="allow" icmp="deny"><rule address="10.0.0.1" proto="any"/>` + `</QubesFirewallRules>`;
  assert.deepEqual(parseFirewallXml(v1allow), [
    'action=accept specialtarget=dns',
    'action=drop proto=icmp',
    'action=drop dst4=10.0.0.1/32',
    'action=accept',
  ]);
});
