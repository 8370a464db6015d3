// qubes.xml reader on the recorded/real files: qubes-core-admin's own 4.x fixture and the
// daemon's qubes.xml before/after the transcripts (test/data/qubesd).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArchivedSystemSchema, type ArchivedSystem, type QubeSettings } from '../../src/core/qubes/model.ts';
import { danglingReferences, parseQubesXml, readArchivedMetadata } from '../../src/core/qubesxml/index.ts';
import { archivedDomains } from '../../src/core/metadata-view.ts';
import { QUBES_XML_FIXTURES, QUBESD_RECORDING } from '../helpers/test-data.ts';

const FIXTURES = QUBES_XML_FIXTURES;
const QUBESD = QUBESD_RECORDING;

const v4 = parseQubesXml(readFileSync(join(FIXTURES, 'v4-qubes.xml')));
const before = parseQubesXml(readFileSync(join(QUBESD, 'qubes.xml')));
const after = parseQubesXml(readFileSync(join(QUBESD, 'qubes-after-transcripts.xml')));

function qube(system: ArchivedSystem, name: string): QubeSettings {
  const q = system.qubes.find((x) => x.name === name);
  assert.ok(q, `qube ${name} present`);
  return q;
}

test('every fixture parses into a schema-valid ArchivedSystem', () => {
  for (const system of [v4, before, after]) {
    assert.ok(ArchivedSystemSchema.safeParse(system).success);
    assert.ok(system.qubes.some((q) => q.klass === 'AdminVM' && q.name === 'dom0'));
  }
  assert.equal(v4.qubes.length, 20);
  assert.equal(before.qubes.length, 11);
  assert.equal(after.qubes.length, 18);
});

test('v4 fixture (Qubes 4.0–4.2 format): labels by id, globals, pools, references, features, tags, 4.2 devices', () => {
  assert.deepEqual(v4.labels[0], { index: 1, name: 'red', color: '0xcc0000' });
  assert.deepEqual(v4.labels.at(-1), { index: 9, name: 'scarlet', color: '0xff2400' });
  assert.deepEqual(v4.globals, {
    clockvm: 'sys-net',
    default_dispvm: 'fedora-25-dvm',
    default_kernel: '4.9.31-17',
    default_netvm: 'sys-firewall',
    default_template: 'fedora-25',
    updatevm: 'sys-firewall',
  });
  assert.deepEqual(v4.pools[0], {
    name: 'lvm',
    driver: 'lvm_thin',
    config: { thin_pool: 'pool3', volume_group: 'core3' },
  });
  assert.deepEqual(v4.pools[2], {
    name: 'default',
    driver: 'file',
    config: { dir_path: '/var/lib/qubes', revisions_to_keep: '1' },
  });

  const d8 = qube(v4, 'test-d8test');
  assert.equal(d8.klass, 'AppVM');
  assert.equal(d8.properties['label'], 'gray'); // label-5 resolved to its name
  assert.equal(d8.properties['template'], 'debian-8');
  assert.equal(d8.properties['kernel'], ''); // explicit empty kernel kept
  assert.equal(d8.properties['debug'], 'True');
  assert.deepEqual(d8.features, {
    'backup-content': 'True',
    'backup-path': 'appvms/test-d8test',
    'backup-size': '20971520',
  });
  assert.deepEqual(d8.tags, ['created-by-dom0']);
  assert.deepEqual(d8.devices, []);
  assert.deepEqual(
    d8.volumes?.map((v) => v.name),
    ['kernel', 'root', 'volatile', 'private'],
  );
  assert.deepEqual(d8.volumes?.[1]?.config, {
    pool: 'default',
    revisions_to_keep: '0',
    size: '10737418240',
    snap_on_start: 'True',
    source: 'vm-templates/debian-8/root',
    vid: 'appvms/test-d8test/root',
  });

  const untrusted = qube(v4, 'untrusted');
  assert.equal(untrusted.properties['netvm'], ''); // explicit none
  assert.equal(untrusted.properties['default_dispvm'], 'fedora-25-clone-dvm');
  assert.equal(qube(v4, 'test-proxy').properties['netvm'], 'sys-net');
  assert.equal(qube(v4, 'test-net').properties['label'], 'scarlet'); // label-9
  assert.deepEqual(qube(v4, 'test-work').tags, ['tag1', 'tag2']);
  assert.deepEqual(qube(v4, 'debian-8').features, { qrexec: 'True', 'updates-available': '', gui: '1' });

  const usb = qube(v4, 'sys-usb');
  assert.deepEqual(usb.devices, [
    {
      devclass: 'pci',
      backend: 'dom0',
      port: '00_14.0',
      deviceId: '*',
      mode: 'required',
      options: { 'no-strict-reset': 'True' },
    },
    {
      devclass: 'pci',
      backend: 'dom0',
      port: '00_1d.0',
      deviceId: '*',
      mode: 'required',
      options: { 'no-strict-reset': 'True' },
    },
  ]);
  assert.deepEqual(qube(v4, 'sys-net').devices, [
    { devclass: 'pci', backend: 'dom0', port: '02_00.0', deviceId: '*', mode: 'required', options: {} },
  ]);
  const dom0 = qube(v4, 'dom0');
  assert.equal(dom0.klass, 'AdminVM');
  assert.deepEqual(dom0.properties, { label: 'black' });
  assert.equal(dom0.volumes, undefined);
});

test('recorded qubes.xml (Qubes 4.4 format): label names, devices with mode and identity, feature order', () => {
  assert.equal(before.labels.length, 8);
  assert.deepEqual(before.globals['default_pool_kernel'], 'linux-kernel');
  assert.deepEqual(
    before.pools.map((p) => `${p.name}:${p.driver}`),
    ['varlibqubes:file-reflink', 'linux-kernel:linux-kernel', 'vm-pool:file-reflink'],
  );
  assert.equal(before.pools[2]?.config['dir_path'], '/mnt/vm-pool');

  const work = qube(before, 'work');
  assert.deepEqual(work.properties, {
    include_in_backups: 'True',
    label: 'blue',
    maxmem: '8000',
    memory: '800',
    name: 'work',
    qid: '5',
    uuid: 'f7034b5a-a990-4e6a-a1da-6b664d0c7b0d',
    vcpus: '4',
    default_dispvm: 'fedora-41-dvm',
    kernelopts: 'nopat apparmor=1',
    template: 'fedora-41',
  });
  assert.deepEqual(work.tags, ['project-x', 'audiovm-dom0', 'backup-weekly', 'guivm-dom0', 'created-by-dom0']);

  const net = qube(before, 'sys-net');
  assert.equal(net.properties['netvm'], '');
  assert.equal(net.properties['provides_network'], 'True');
  assert.equal(net.properties['virt_mode'], 'hvm');
  assert.deepEqual(net.devices, [
    {
      devclass: 'pci',
      backend: 'dom0',
      port: '00_03.0',
      deviceId: '0x1af4:0x1041::p020000',
      mode: 'required',
      options: { 'no-strict-reset': 'True' },
    },
  ]);
  assert.equal(qube(before, 'sys-firewall').properties['netvm'], 'sys-net');
  assert.equal(qube(before, 'vault').properties['default_dispvm'], '');
  assert.equal(qube(before, 'vault').properties['include_in_backups'], 'False');
  assert.equal(qube(before, 'disp-test').klass, 'DispVM');
  assert.equal(qube(before, 'disp-test').properties['dispid'], '5775');
  assert.deepEqual(Object.keys(qube(before, 'fedora-41').features), ['os', 'template-name', 'default-menu-items']);
  assert.equal(qube(before, 'fedora-41').features['default-menu-items'], 'org.gnome.Nautilus.desktop xterm.desktop');

  // after the transcripts: an auto-attach assignment of any device in a port, dom0 changes
  assert.deepEqual(qube(after, 'restored-app').devices, [
    { devclass: 'pci', backend: 'dom0', port: '00_01.0', deviceId: '*', mode: 'auto-attach', options: {} },
  ]);
  assert.equal(qube(after, 'restored-app').properties['template'], 'restored-tpl');
  assert.deepEqual(qube(after, 'dom0').properties, { label: 'red', default_dispvm: 'fedora-41-dvm' });
  assert.equal(qube(after, 'personal').properties['netvm'], 'sys-firewall');
});

test('no dangling references in the real files; a missing target is reported', () => {
  assert.deepEqual(danglingReferences(before), []);
  assert.deepEqual(danglingReferences(after), []);
  const xml = readFileSync(join(QUBESD, 'qubes.xml'), 'utf8').replace(
    '<property name="netvm">sys-net</property>',
    '<property name="netvm">sys-gone</property>',
  );
  assert.deepEqual(danglingReferences(parseQubesXml(xml)), [
    { qube: 'sys-firewall', property: 'netvm', target: 'sys-gone' },
  ]);
});

test('4.2 device forms: identity option, legacy required attribute, missing mode', () => {
  const xml = `<qubes><labels><label id="label-1" color="0xcc0000">red</label></labels><domains>
    <domain id="domain-1" class="AppVM"><properties><property name="name">usbq</property>\
<property name="label">label-1</property></properties>
      <devices class="usb">
        <device backend-domain="sys-usb" id="2-1"><option name="identity">0781:5581:SanDisk</option>\
<option name="read-only">yes</option></device>
        <device backend-domain="sys-usb" id="2-2" required="no"/>
        <device backend-domain="sys-usb" id="2-3" required="yes"/>
        <device backend-domain="sys-usb" id="2-4" mode="ask-to-attach" identity="1234:5678"/>
      </devices>
    </domain></domains></qubes>`;
  const devs = qube(parseQubesXml(xml), 'usbq').devices;
  assert.deepEqual(devs, [
    {
      devclass: 'usb',
      backend: 'sys-usb',
      port: '2-1',
      deviceId: '0781:5581:SanDisk',
      mode: 'required',
      options: { 'read-only': 'yes' },
    },
    { devclass: 'usb', backend: 'sys-usb', port: '2-2', deviceId: '*', mode: 'auto-attach', options: {} },
    { devclass: 'usb', backend: 'sys-usb', port: '2-3', deviceId: '*', mode: 'required', options: {} },
    { devclass: 'usb', backend: 'sys-usb', port: '2-4', deviceId: '1234:5678', mode: 'ask-to-attach', options: {} },
  ]);
});

test('values keep their exact text; entities and character references are decoded, bools/ints canonical', () => {
  const xml = `<?xml version='1.0' encoding='UTF-8'?>
<qubes><labels><label id="label-1" color="0xcc0000">red</label></labels><domains>
  <domain id="domain-1" class="AppVM"><properties>
    <property name="name">q1</property><property name="label">red</property>
    <property name="kernelopts">  a &amp; b &lt;c&gt; &#65;&#x42; </property>
    <property name="include_in_backups">true</property>
    <property name="memory">0400</property>
    <property name="future_prop">anything at all</property>
  </properties>
  <features><feature name="z-last">1</feature><feature name="a-first"></feature><feature name="10">x</feature>\
<feature name="quote">it's "q"</feature></features>
  <tags/></domain></domains></qubes>`;
  const q = qube(parseQubesXml(xml), 'q1');
  assert.equal(q.properties['kernelopts'], '  a & b <c> AB ');
  assert.equal(q.properties['include_in_backups'], 'True');
  assert.equal(q.properties['memory'], '400');
  assert.equal(q.properties['future_prop'], 'anything at all');
  assert.deepEqual(q.features, { 'z-last': '1', 'a-first': '', '10': 'x', quote: 'it\'s "q"' });
  assert.equal(q.volumes, undefined);
});

// The reader cuts layout whitespace before fast-xml-parser reads the text (safe-xml.ts): only
// whitespace between the child elements of an element, never an element's own value.
test('whitespace values are kept exactly, next to comments and CDATA too; layout between elements is not text', () => {
  const xml = `<qubes>\r\n <labels> <label id="label-1" color="0xcc0000">red</label>\n</labels>\n<domains>
  <domain id="domain-1" class="AppVM">\t<properties>
    <property name="name">q1</property> <!-- between --> <property name="label">red</property>
    <property name="kernelopts">   </property>
    <property name="default_user"> <!-- c --> </property>
    <property name="vcpus"> 2 </property>
  </properties>
  <features>\n<feature name="cdata"> <![CDATA[ a <b> ]]> </feature></features>
  </domain></domains>\n</qubes>\n`;
  const q = qube(parseQubesXml(xml), 'q1');
  assert.equal(q.properties['kernelopts'], '   ');
  assert.equal(q.properties['default_user'], '  ');
  assert.deepEqual(q.features, { cdata: '  a <b>  ' });
  // a tab value reaches the value check (it is not cut as layout)
  assert.throws(
    () => parseQubesXml(xml.replace('</feature>', '</feature><feature name="tab">\t</feature>')),
    /feature 'tab': value holds control character 0x09/,
  );
  // text that is not whitespace between elements stays text (and is refused where not allowed)
  assert.throws(() => parseQubesXml(xml.replace('<!-- between -->', 'x')), /<properties>: unexpected text 'x'/);
});

test("readArchivedMetadata attaches each qube's firewall.xml (none → [] = qubesd default)", () => {
  const files = new Map<string, Buffer>([
    ['qubes.xml', readFileSync(join(QUBESD, 'qubes.xml'))],
    ['appvms/work/firewall.xml', readFileSync(join(FIXTURES, 'v4-firewall.xml'))],
    [
      'vm-templates/fedora-41/firewall.xml',
      Buffer.from(
        '<firewall version="2"><rules><rule><properties>' +
          '<property name="action">drop</property></properties></rule></rules></firewall>',
      ),
    ],
  ]);
  const system = readArchivedMetadata(files);
  assert.equal(qube(system, 'work').firewall?.length, 6);
  assert.equal(qube(system, 'work').firewall?.[3], 'action=accept dsthost=www.qubes-os.org proto=tcp dstports=443-443');
  assert.deepEqual(qube(system, 'fedora-41').firewall, ['action=drop']);
  assert.deepEqual(qube(system, 'personal').firewall, []);
  assert.equal(qube(system, 'dom0').firewall, undefined);
  assert.throws(
    () =>
      readArchivedMetadata(
        new Map([
          ...files,
          [
            'appvms/vault/firewall.xml',
            Buffer.from(
              '<firewall version="2"><rules><rule><properties>' +
                '<property name="action">maybe</property></properties></rule></rules></firewall>',
            ),
          ],
        ]),
      ),
    /appvms\/vault\/firewall\.xml.*rule #1: invalid action 'maybe'/,
  );
});

test('metadata-view (list/verify) reads names and classes through the reader', () => {
  const domains = archivedDomains(new Map([['qubes.xml', readFileSync(join(QUBESD, 'qubes.xml'))]]));
  assert.deepEqual(domains.slice(0, 3), [
    { name: 'dom0', klass: 'AdminVM' },
    { name: 'disp-test', klass: 'DispVM' },
    { name: 'fedora-41', klass: 'TemplateVM' },
  ]);
  assert.throws(() => archivedDomains(new Map()), /no qubes\.xml/);
});
