// Hostile and broken qubes.xml / firewall.xml: each must give a WqError('input') that says what
// is wrong and where — never a crash trace, never a partial result.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WqError } from '../../src/core/errors.ts';
import { parseFirewallXml, parseQubesXml } from '../../src/core/qubesxml/index.ts';
import { QUBESD_RECORDING } from '../helpers/test-data.ts';

const QUBESD = QUBESD_RECORDING;
const REAL = readFileSync(join(QUBESD, 'qubes.xml'), 'utf8');

const LABELS = '<labels><label id="label-1" color="0xcc0000">red</label></labels>';
function domainXml(inner: string, klass = 'AppVM'): string {
  return `<qubes>${LABELS}<domains><domain id="domain-1" class="${klass}">${inner}</domain></domains></qubes>`;
}
const PROPS = '<properties><property name="name">q1</property><property name="label">label-1</property></properties>';

function refuses(input: string | Buffer, pattern: RegExp, label: string): void {
  assert.throws(
    () => parseQubesXml(input),
    (err: unknown) => {
      assert.ok(err instanceof WqError, `${label}: a WqError, got ${String(err)}`);
      assert.equal(err.kind, 'input', label);
      assert.match(err.message, /^Refusing qubes\.xml: /, label);
      assert.match(err.message, pattern, label);
      assert.ok(!err.message.includes('\n'), `${label}: one line`);
      return true;
    },
    label,
  );
}

test('a DOCTYPE with an entity bomb (billion laughs) is refused before any expansion', () => {
  const bomb = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<qubes><properties><property name="default_kernel">&lol9;</property></properties></qubes>`;
  const t0 = Date.now();
  refuses(bomb, /DTD declaration \('<!DOCTYPE'\)/, 'billion laughs');
  assert.ok(Date.now() - t0 < 1000);
});

test('external entities and stray declarations are refused; undefined entity references too', () => {
  refuses(`<?xml version="1.0"?><!DOCTYPE qubes SYSTEM "file:///etc/shadow"><qubes/>`, /DOCTYPE/, 'external DTD');
  refuses(
    `<!DOCTYPE qubes [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
      `<qubes><properties><property name="default_kernel">&xxe;</property></properties></qubes>`,
    /DTD declaration/,
    'external entity',
  );
  refuses(`<qubes><!ENTITY x "y"></qubes>`, /ENTITY/, 'entity declaration in the body');
  refuses(
    `<qubes><properties><property name="default_kernel">&xxe;</property></properties></qubes>`,
    /undefined entity or bare '&' \('&xxe;'\)/,
    'undefined entity',
  );
  refuses(
    `<qubes><properties><property name="default_kernel">a & b</property></properties></qubes>`,
    /not well-formed XML|bare '&'/,
    'bare ampersand',
  );
  refuses(
    `<qubes><properties><property name="default_kernel">&#0;</property></properties></qubes>`,
    /not an XML character/,
    'NUL character reference',
  );
});

test('a file over 32 MiB is refused without parsing', () => {
  const pad = `<!--${'x'.repeat(40 * 1024 * 1024)}-->`;
  const big = Buffer.from(`<qubes>${pad}</qubes>`);
  const t0 = Date.now();
  refuses(big, /larger than 33554432 bytes/, '40 MiB buffer');
  refuses(big.toString('latin1'), /larger than 33554432 bytes/, '40 MiB string');
  assert.ok(Date.now() - t0 < 2000);
});

test('deep nesting (10,000 levels) and element floods are refused', () => {
  const deep = `<qubes>${'<a>'.repeat(10_000)}${'</a>'.repeat(10_000)}</qubes>`;
  refuses(deep, /nested deeper than 16 levels/, '10k-deep nesting');
  const flood = `<qubes>${LABELS}<domains>${'<domain/>'.repeat(20_000)}</domains></qubes>`;
  refuses(flood, /more than 10001 <domain> elements/, 'too many domains');
  const tags = domainXml(`${PROPS}<tags>${'<tag name="t"/>'.repeat(10_001)}</tags>`);
  refuses(tags, /more than 10000 <tag> elements/, 'too many tags');
});

test('not UTF-8, other encodings, not XML, wrong root', () => {
  refuses(
    Buffer.concat([
      Buffer.from('<qubes><properties><property name="default_kernel">caf'),
      Buffer.from([0xe9]),
      Buffer.from('</property></properties></qubes>'),
    ]),
    /not valid UTF-8 text \(bad byte at offset 54\)/,
    'latin-1 byte',
  );
  refuses(Buffer.from([0xff, 0xfe, 0x3c, 0x00]), /not valid UTF-8/, 'UTF-16');
  refuses(`<?xml version="1.0" encoding="ISO-8859-1"?><qubes/>`, /encoding 'ISO-8859-1'/, 'declared latin-1');
  refuses('', /empty/, 'empty file');
  refuses('just text', /not well-formed XML|no document element/, 'not XML');
  refuses('<qubes><domains></qubes>', /not well-formed XML \(line 1/, 'mismatched tags');
  refuses('<qubes a="1" a="2"/>', /not well-formed XML/, 'duplicate attribute');
  refuses('<firewall version="2"/>', /document element is <firewall>, expected <qubes>/, 'wrong root');
  refuses('<qubes/><qubes/>', /not well-formed|more than one document element/, 'two roots');
});

// What fast-xml-parser's parser alone would misread (it does not check these): the one-pass
// well-formedness check refuses each with where it is (line, column) and what.
test('malformed markup the parser would misread is refused with its line and column', () => {
  const cases: Array<[string, RegExp, string]> = [
    ['<qubes>\n  <labels>\n</qubes>', /line 3, column 1: closing tag <\/qubes> does not match <labels>/, 'mismatch'],
    ['<qubes><labels>', /line 1, column 16: <labels> is not closed/, 'unclosed at the end'],
    ['<qubes/></labels>', /closing tag <\/labels> without an open element/, 'stray closing tag'],
    ['<qubes a=b/>', /line 1, column 1: malformed start tag/, 'unquoted attribute'],
    ['<qubes a="1"b="2"/>', /malformed start tag/, 'attributes without space'],
    ['<qubes a="x<y"/>', /malformed start tag/, "'<' in an attribute value"],
    ['<qubes a/>', /malformed start tag/, 'attribute without value'],
    ['<qubes>a < b</qubes>', /line 1, column 10: malformed start tag or a bare '<'/, "bare '<' in text"],
    ['<qubes>< labels/></qubes>', /malformed start tag/, "space after '<'"],
    ['<qubes/>\ntrailing', /line 2, column 1: text outside the document element/, 'text after the root'],
    ['<qubes/><!-- x', /unclosed comment/, 'unclosed comment'],
    ['<qubes><![CDATA[x</qubes>', /unclosed CDATA section/, 'unclosed CDATA'],
    ['<qubes/><![CDATA[x]]>', /CDATA outside the document element/, 'CDATA after the root'],
    ['<qubes><?xml version="1.0"?></qubes>', /XML declaration is allowed only at the start/, 'late declaration'],
    ['<qubes></ qubes>', /malformed closing tag/, 'space in a closing tag'],
    [
      `<qubes ${'a'.repeat(100_000)}="1" ${'a'.repeat(100_000)}="2"/>`,
      /attribute 'a{40}…' is repeated/,
      'long names (shown shortened)',
    ],
  ];
  for (const [xml, pattern, label] of cases)
    refuses(xml, new RegExp(`not well-formed XML \\((?=line \\d+, column \\d+: ).*${pattern.source}`), label);
  // a start tag with a million attributes is refused as malformed input (matched attribute by
  // attribute: one pattern over all of them exhausted the regexp engine's stack, a RangeError)
  const many = Array.from({ length: 1_000_000 }, (_, i) => ` a${i}="1"`).join('');
  refuses(`<qubes${many} b/>`, /malformed start tag/, 'a million attributes, then a bad one');
  refuses(`<qubes${many} a7="2"/>`, /attribute 'a7' is repeated/, 'a repeat after a million');
  // and what stays well-formed is read as written: '>' in values and text, any quote style, spaces
  const ok = parseQubesXml(
    `<?xml version='1.0' encoding='UTF-8'?>\n<!-- c --><qubes >${LABELS}<domains\n><domain id='domain-1' ` +
      `class = "AppVM"><properties><property name="name">q1</property><property name="label">label-1</property>` +
      `<property name="kernelopts">a > b</property></properties></domain></domains></qubes >\n`,
  );
  assert.equal(ok.qubes[0]?.properties['kernelopts'], 'a > b');
});

test('unknown class, invalid or duplicate names, missing required attributes', () => {
  refuses(
    domainXml(PROPS, 'EvilVM'),
    /domain #1: unknown qube class 'EvilVM' \(known: AdminVM, AppVM/,
    'unknown class',
  );
  refuses(
    domainXml(
      '<properties><property name="name">bad name</property><property name="label">red</property></properties>',
    ),
    /domain #1: invalid qube name 'bad name'/,
    'space in name',
  );
  refuses(
    domainXml('<properties><property name="name">-x</property><property name="label">red</property></properties>'),
    /invalid qube name '-x'/,
    'leading hyphen',
  );
  refuses(
    domainXml(
      `<properties><property name="name">${'a'.repeat(40)}</property>` +
        `<property name="label">red</property></properties>`,
    ),
    /longer than 31/,
    'long name',
  );
  refuses(
    domainXml('<properties><property name="name">dom0</property><property name="label">red</property></properties>'),
    /only the AdminVM may be named dom0/,
    'fake dom0',
  );
  refuses(
    domainXml('<properties><property name="label">red</property></properties>'),
    /AppVM without a 'name' property/,
    'no name',
  );
  refuses(
    domainXml('<properties><property name="name">q1</property></properties>'),
    /domain 'q1': no label property/,
    'no label',
  );
  refuses(
    `<qubes>${LABELS}<domains><domain id="domain-1">${PROPS}</domain></domains></qubes>`,
    /domain #1: attribute 'class' is missing/,
    'no class',
  );
  refuses(
    `<qubes>${LABELS}<domains><domain class="AppVM">${PROPS}</domain>` +
      `<domain class="AppVM">${PROPS}</domain></domains></qubes>`,
    /domain 'q1': duplicate qube name/,
    'duplicate qube',
  );
  refuses(
    `<qubes><labels><label color="0xcc0000">red</label></labels></qubes>`,
    /label #1: attribute 'id' is missing/,
    'label without id',
  );
  refuses(
    `<qubes><labels><label id="label-1" color="red">red</label></labels></qubes>`,
    /label #1: attribute color='red': must be 0xRRGGBB/,
    'bad color',
  );
  refuses(
    `<qubes><pools><pool driver="file"/></pools></qubes>`,
    /pool #1: attribute 'name' is missing/,
    'pool without name',
  );
  refuses(
    domainXml('<properties><property name="name">q1</property><property name="label">label-7</property></properties>'),
    /label 'label-7' is not defined in <labels>/,
    'undefined label',
  );
});

test('property, feature, tag, device and volume rules', () => {
  const withProps = (extra: string): string =>
    domainXml(
      `<properties><property name="name">q1</property><property name="label">red</property>${extra}</properties>`,
    );
  refuses(
    withProps('<property name="bad-name">x</property>'),
    /domain 'q1': property 'bad-name': invalid property name/,
    'property name',
  );
  refuses(withProps('<property>x</property>'), /property #3: attribute 'name' is missing/, 'property without name');
  refuses(
    withProps('<property name="memory">lots</property>'),
    /property 'memory': Invalid integer value 'lots'/,
    'int',
  );
  refuses(
    withProps('<property name="debug">maybe</property>'),
    /property 'debug': Invalid literal for boolean property: 'maybe'/,
    'bool',
  );
  refuses(
    withProps('<property name="netvm">no such qube!</property>'),
    /property 'netvm': Invalid qube reference 'no such qube!'/,
    'reference',
  );
  refuses(
    withProps('<property name="memory">1</property><property name="memory">2</property>'),
    /property 'memory': set twice/,
    'duplicate property',
  );
  refuses(
    `<qubes><properties><property name="default_netvm">a b</property></properties></qubes>`,
    /global properties: property 'default_netvm': Invalid qube reference/,
    'global reference',
  );
  refuses(
    domainXml(`${PROPS}<features><feature name="a b">1</feature></features>`),
    /feature 'a b': invalid feature name/,
    'feature name',
  );
  refuses(
    domainXml(`${PROPS}<features><feature name="__proto__">1</feature></features>`),
    /feature '__proto__': reserved name '__proto__'/,
    'prototype key',
  );
  refuses(
    domainXml(`${PROPS}<volume-config><volume name="root" __proto__="x"/></volume-config>`),
    /reserved name '__proto__'/,
    'prototype attribute',
  );
  refuses(
    domainXml(`${PROPS}<features><feature name="f">1</feature><feature name="f">2</feature></features>`),
    /feature 'f': set twice/,
    'duplicate feature',
  );
  refuses(domainXml(`${PROPS}<tags><tag name="a.b"/></tags>`), /tag 'a\.b': invalid tag name/, 'tag with dot');
  refuses(domainXml(`${PROPS}<tags><tag/></tags>`), /tag #1: attribute 'name' is missing/, 'tag without name');
  refuses(
    domainXml(`${PROPS}<devices class="pci"><device id="00_03.0"/></devices>`),
    /device #1: attribute 'backend-domain' is missing/,
    'device without backend',
  );
  refuses(
    domainXml(`${PROPS}<devices class="pci"><device backend-domain="dom0" id="00 03"/></devices>`),
    /attribute id='00 03': invalid port id/,
    'bad port',
  );
  refuses(
    domainXml(`${PROPS}<devices class="pci"><device backend-domain="dom0" id="00_03.0" mode="manual"/></devices>`),
    /unknown assignment mode 'manual'/,
    'manual mode',
  );
  refuses(
    domainXml(`${PROPS}<devices class="pci"/><devices class="pci"/>`),
    /device class listed twice/,
    'duplicate devclass',
  );
  refuses(domainXml(`${PROPS}<devices class="p c i"/>`), /invalid device class/, 'bad devclass');
  refuses(
    domainXml(`${PROPS}<volume-config><volume pool="x"/></volume-config>`),
    /volume #1: attribute 'name' is missing/,
    'volume without name',
  );
  refuses(
    domainXml(`${PROPS}<volume-config><volume name="root"/><volume name="root"/></volume-config>`),
    /volume 'root': listed twice/,
    'duplicate volume',
  );
  refuses(domainXml(`${PROPS}<surprise/>`), /domain #1: unexpected element <surprise>/, 'unknown element');
  refuses(
    domainXml(`${PROPS}<tags><tag name="x"/><other/></tags>`),
    /unexpected element <other> \(expected <tag>\)/,
    'unknown child',
  );
});

test('the real qubes.xml with one byte changed in a name still fails cleanly', () => {
  refuses(
    REAL.replace('<property name="name">work</property>', '<property name="name">wo rk</property>'),
    /invalid qube name 'wo rk'/,
    'real file',
  );
  refuses(
    REAL.replace('class="StandaloneVM"', 'class="Standalone"'),
    /unknown qube class 'Standalone'/,
    'real file class',
  );
});

test('firewall.xml: hostile and invalid rules give clear errors', () => {
  const fw = (rules: string): string => `<firewall version="2"><rules>${rules}</rules></firewall>`;
  const rule = (props: Record<string, string>): string =>
    `<rule><properties>${Object.entries(props)
      .map(([k, v]) => `<property name="${k}">${v}</property>`)
      .join('')}</properties></rule>`;
  const bad: Array<[string, RegExp]> = [
    [`<!DOCTYPE f [<!ENTITY x "y">]>${fw('')}`, /DTD declaration/],
    [fw(rule({ proto: 'tcp' })), /rule #1: rule without action/],
    [fw(rule({ action: 'reject' })), /invalid action 'reject'/],
    [fw(rule({ action: 'accept', proto: 'sctp' })), /invalid proto 'sctp'/],
    [fw(rule({ action: 'accept', dstports: '80' })), /dstports valid only for 'tcp' and 'udp'/],
    [fw(rule({ action: 'accept', proto: 'tcp', dstports: '90-80' })), /invalid port range/],
    [fw(rule({ action: 'accept', proto: 'tcp', dstports: '70000' })), /ports out of range/],
    [fw(rule({ action: 'accept', proto: 'tcp', icmptype: '8' })), /icmptype valid only for 'icmp'/],
    [fw(rule({ action: 'accept', dsthost: '10.0.0.0/33' })), /netmask for IPv4 must be <= 32/],
    [fw(rule({ action: 'accept', dsthost: 'Evil Host' })), /strange characters|invalid host name/],
    [fw(rule({ action: 'accept', dsthost: 'a;b' })), /invalid host name 'a;b'/],
    [fw(rule({ action: 'accept', comment: 'rm -rf $HOME' })), /strange characters in comment/],
    [fw(rule({ action: 'accept', expire: 'soon' })), /bad expiration time/],
    [fw(rule({ action: 'accept', evil: '1' })), /unknown rule option 'evil'/],
    [fw(rule({ action: 'accept' }) + '<other/>'), /unexpected element <other> in <rules>/],
    ['<firewall version="3"><rules/></firewall>', /unsupported firewall\.xml version '3'/],
    ['<qubes/>', /expected <firewall> or <QubesFirewallRules>/],
  ];
  for (const [xml, pattern] of bad) {
    assert.throws(
      () => parseFirewallXml(xml, { source: 'appvms/work/firewall.xml' }),
      (err: unknown) =>
        err instanceof WqError &&
        err.kind === 'input' &&
        /^Refusing appvms\/work\/firewall\.xml: /.test(err.message) &&
        pattern.test(err.message),
      xml,
    );
  }
});
