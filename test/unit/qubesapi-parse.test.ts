// Parsers of qubesd's answers, fed with the recorded bodies, plus malformed variants.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ReplyFormatError,
  parseCurrentState,
  parseFirewall,
  parseKeyValueLines,
  parseLabelColor,
  parseLabelIndex,
  parseNameList,
  parsePoolInfo,
  parsePropertyDefault,
  parsePropertyGet,
  parsePropertyGetAll,
  parseTagGet,
  parseVmList,
  parseVolumeInfo,
  unescapeGetAll,
} from '../../src/core/qubesapi/parse.ts';
import {
  assignmentArg,
  assignmentPayload,
  legacyAttachPayload,
  parseAssigned,
  parseAssignedLine,
  parseLegacyList,
  parseQuotedPairs,
} from '../../src/core/qubesapi/devices.ts';
import { allExchanges, okBody, requestPayload } from '../helpers/qubesd-transcripts.ts';
import type { DeviceAssignment } from '../../src/core/qubes/model.ts';

const bad = (fn: () => unknown, what: string): void => assert.throws(fn, ReplyFormatError, what);

test('admin.vm.List: every qube with class, state and uuid; dom0 first', () => {
  const qubes = parseVmList(okBody('admin.vm.List/all'));
  assert.equal(qubes.length, 11);
  assert.deepEqual(qubes[0], {
    name: 'dom0',
    klass: 'AdminVM',
    state: 'Running',
    uuid: '00000000-0000-0000-0000-000000000000',
  });
  assert.deepEqual(qubes.map((q) => `${q.name}:${q.klass}:${q.state}`).slice(1, 4), [
    'disp-test:DispVM:Halted',
    'fedora-41:TemplateVM:Halted',
    'fedora-41-dvm:AppVM:Halted',
  ]);
  assert.deepEqual(
    parseVmList(okBody('admin.vm.List/one')).map((q) => q.name),
    ['work'],
  );
  assert.deepEqual(parseVmList(''), []);
  bad(() => parseVmList('work class=AppVM\n'), 'missing state');
  bad(() => parseVmList('work class=NoSuchVM state=Halted\n'), 'unknown class');
  bad(() => parseVmList('work class=AppVM state=Sleeping\n'), 'unknown state');
  bad(() => parseVmList('1work class=AppVM state=Halted\n'), 'bad name');
  bad(() => parseVmList('work\n'), 'no fields');
  bad(() => parseVmList('work class=AppVM class=AppVM state=Halted\n'), 'duplicate key');
  bad(() => parseVmList('work class=AppVM state=Halted junk\n'), 'token without =');
});

test('property Get: default flag, type, value with spaces or empty', () => {
  assert.deepEqual(parsePropertyGet(okBody('admin.vm.property.Get/netvm-work')), {
    isDefault: true,
    type: 'vm',
    value: 'sys-firewall',
  });
  assert.deepEqual(parsePropertyGet(okBody('admin.vm.property.Get/netvm-personal')), {
    isDefault: false,
    type: 'vm',
    value: '',
  });
  assert.deepEqual(parsePropertyGet(okBody('admin.vm.property.Get/kernelopts-work')), {
    isDefault: false,
    type: 'str',
    value: 'nopat apparmor=1',
  });
  assert.deepEqual(parsePropertyGet(okBody('admin.vm.property.Get/label-work')), {
    isDefault: false,
    type: 'label',
    value: 'blue',
  });
  assert.deepEqual(parsePropertyGet(okBody('admin.vm.property.Get/backup_timestamp-work')), {
    isDefault: true,
    type: 'int',
    value: '',
  });
  assert.deepEqual(parsePropertyGet(okBody('admin.vm.property.Get/xid-work')), {
    isDefault: true,
    type: 'int',
    value: '-1',
  });
  assert.deepEqual(parsePropertyGet(okBody('admin.property.Get/default_kernel')), {
    isDefault: false,
    type: 'str',
    value: '6.6.63-1.qubes.fc37.x86_64',
  });
  // Get does not escape: a value with a newline spans lines
  assert.equal(parsePropertyGet('default=False type=str a\nb').value, 'a\nb');
  for (const e of allExchanges()) {
    if (!/^admin\.(vm\.)?property\.Get$/.test(e.file) || e.response[0] !== 0x30) continue;
    parsePropertyGet(okBody(e.id), e.id);
  }
  bad(() => parsePropertyGet('default=Maybe type=str x'), 'bad default flag');
  bad(() => parsePropertyGet('default=True type=float 1.5'), 'unknown type');
  bad(() => parsePropertyGet('default=True type=int abc'), 'int not digits');
  bad(() => parsePropertyGet('default=True type=bool yes'), 'bool not True/False');
  bad(() => parsePropertyGet('default=True type=vm 1bad'), 'vm not a qube name');
  bad(() => parsePropertyGet('default=True type=str'), 'no space before the value');
  bad(() => parsePropertyGet(''), 'empty');
});

test('property GetAll: every recorded body parses; explicit values and escapes', () => {
  for (const e of allExchanges()) {
    if (!/^admin\.(vm\.)?property\.GetAll$/.test(e.file)) continue;
    const props = parsePropertyGetAll(okBody(e.id));
    assert.ok(props.size > 10, e.id);
  }
  const work = parsePropertyGetAll(okBody('admin.vm.property.GetAll/work'));
  const explicit = Object.fromEntries([...work].filter(([, p]) => !p.isDefault).map(([n, p]) => [n, p.value]));
  assert.equal(explicit.name, 'work');
  assert.equal(explicit.label, 'blue');
  assert.equal(explicit.memory, '800');
  assert.equal(explicit.kernelopts, 'nopat apparmor=1');
  assert.equal(explicit.template, 'fedora-41');
  assert.equal(explicit.netvm, undefined, 'netvm of work follows default_netvm');
  assert.deepEqual(work.get('netvm'), { isDefault: true, type: 'vm', value: 'sys-firewall' });
  assert.equal(work.get('dns')?.value, '10.139.1.1 10.139.1.2');
  const globals = parsePropertyGetAll(okBody('admin.property.GetAll/ok'));
  assert.deepEqual(globals.get('default_netvm'), { isDefault: false, type: 'vm', value: 'sys-firewall' });

  // qubesd escapes `\` as `\\` and newline as `\n` in GetAll (not in Get)
  const esc = parsePropertyGetAll('kernelopts default=False type=str a\\\\b\\nc\nname default=False type=str x\n');
  assert.equal(esc.get('kernelopts')?.value, 'a\\b\nc');
  assert.equal(unescapeGetAll('\\\\n'), '\\n');
  assert.equal(unescapeGetAll('plain'), 'plain');
  bad(() => unescapeGetAll('a\\tb'), 'unknown escape');
  bad(() => parsePropertyGetAll('memory default=False type=int 1\nmemory default=False type=int 2\n'), 'duplicate');
  bad(() => parsePropertyGetAll(' default=False type=int 1\n'), 'no name');
  bad(() => parsePropertyGetAll('memory default=False\n'), 'truncated');
});

test('property GetDefault: type and value, or nothing', () => {
  assert.deepEqual(parsePropertyDefault(okBody('admin.vm.property.GetDefault/memory-work')), {
    type: 'int',
    value: '400',
  });
  assert.deepEqual(parsePropertyDefault(okBody('admin.property.GetDefault/default_netvm')), { type: 'vm', value: '' });
  assert.equal(parsePropertyDefault(okBody('admin.vm.property.GetDefault/label-work')), undefined);
  assert.equal(parsePropertyDefault(okBody('admin.vm.property.GetDefault/template-work')), undefined);
  bad(() => parsePropertyDefault('default=True type=int 4'), 'a Get body is not a GetDefault body');
});

test('pool and volume info', () => {
  const vl = parsePoolInfo(okBody('admin.pool.Info/varlibqubes'));
  assert.equal(vl.name, 'varlibqubes');
  assert.equal(vl.driver, 'file-reflink');
  assert.equal(vl.config.dir_path, '/var/lib/qubes');
  assert.equal(vl.config.revisions_to_keep, '1');
  assert.equal(vl.size, 2147483648);
  assert.equal(vl.usage, 6062080);
  assert.equal('size' in vl.config, false);
  const lk = parsePoolInfo(okBody('admin.pool.Info/linux-kernel'));
  assert.equal(lk.size, undefined);
  assert.equal(lk.includedIn, 'varlibqubes');
  bad(() => parsePoolInfo('driver=lvm_thin\n'), 'no name');
  bad(() => parsePoolInfo('name=p\ndriver=x\nsize=big\n'), 'size not a number');
  bad(() => parseKeyValueLines('no equals sign\n', 'x'), 'not key=value');
  bad(() => parseKeyValueLines('a=1\na=2\n', 'x'), 'duplicate');

  const v = parseVolumeInfo(okBody('admin.vm.volume.Info/work-root'));
  assert.deepEqual(v, {
    pool: 'varlibqubes',
    vid: 'appvms/work/root',
    size: 10737418240,
    usage: 0,
    rw: true,
    source: 'vm-templates/fedora-41/root',
    path: '/var/lib/qubes/appvms/work/root-dirty.img',
    saveOnStop: false,
    snapOnStart: true,
    revisionsToKeep: 1,
    ephemeral: false,
    isOutdated: false,
  });
  bad(() => parseVolumeInfo('pool=x\nvid=y\n'), 'missing keys');
  assert.deepEqual(parseNameList(okBody('admin.vm.volume.List/work'), 'volumes'), [
    'root',
    'private',
    'volatile',
    'kernel',
  ]);
  assert.deepEqual(parseNameList(okBody('admin.vm.volume.List/dom0'), 'volumes'), []);
  bad(() => parseNameList('a b\n', 'x'), 'space in a name');
});

test('current state, labels, tags, firewall', () => {
  assert.deepEqual(parseCurrentState(okBody('admin.vm.CurrentState/running')), {
    memKiB: 425,
    memStaticMaxKiB: 0,
    cputime: 0,
    powerState: 'Running',
  });
  bad(() => parseCurrentState('mem=1 power_state=Running'), 'missing keys');
  bad(() => parseCurrentState('mem=1 mem_static_max=0 cputime=0 power_state=Exploded'), 'bad state');
  assert.equal(parseLabelColor(okBody('admin.label.Get/ok')), '0xcc0000');
  bad(() => parseLabelColor('red'), 'color');
  assert.equal(parseLabelIndex(okBody('admin.label.Index/ok')), 6);
  bad(() => parseLabelIndex('six'), 'index');
  assert.equal(parseTagGet(okBody('admin.vm.tag.Get/present')), true);
  assert.equal(parseTagGet(okBody('admin.vm.tag.Get/absent')), false);
  bad(() => parseTagGet('yes'), 'tag state');
  assert.deepEqual(parseFirewall(okBody('admin.vm.firewall.Get/default')), ['action=accept']);
  assert.deepEqual(
    parseFirewall('action=accept proto=tcp dsthost=10.0.0.0/8 dstports=443-443 comment=a b\naction=drop\n'),
    ['action=accept proto=tcp dsthost=10.0.0.0/8 dstports=443-443 comment=a b', 'action=drop'],
  );
  bad(() => parseFirewall('action=accept\n\naction=drop\n'), 'empty rule line');
});

test('4.3 Assigned lines ↔ DeviceAssignment', () => {
  const [net] = parseAssigned(okBody('admin.vm.device.pci.Assigned/sys-net'), 'pci');
  assert.deepEqual(net, {
    devclass: 'pci',
    backend: 'dom0',
    port: '00_03.0',
    deviceId: '0x1af4:0x1041::p020000',
    mode: 'required',
    options: { 'no-strict-reset': 'True' },
  });
  const after = parseAssigned(okBody('admin.vm.device.pci.Assigned/after-assign'), 'pci');
  assert.deepEqual(
    after.map((a) => [a.port, a.deviceId, a.mode]),
    [
      ['00_01.0', '*', 'auto-attach'],
      ['00_04.0', '0x1af4:0x1053::pffff00', 'required'],
      ['00_05.0', '*', 'required'],
    ],
  );
  const [blk] = parseAssigned(okBody('admin.vm.device.block.Assigned/after'), 'block');
  assert.deepEqual(blk, {
    devclass: 'block',
    backend: 'sys-firewall',
    port: 'sda',
    deviceId: '*',
    mode: 'auto-attach',
    options: { 'read-only': 'yes' },
  });
  assert.deepEqual(parseAssigned('', 'pci'), []);

  // quoting: a `'` inside a value is written `\'`
  assert.deepEqual(parseQuotedPairs("a='x' _b='it\\'s here' c=''"), [
    ['a', 'x'],
    ['_b', "it's here"],
    ['c', ''],
  ]);
  bad(() => parseQuotedPairs('a=unquoted'), 'unquoted');
  bad(() => parseQuotedPairs("a='open"), 'unterminated');
  // cross-checks as qubesadmin does
  bad(
    () => parseAssignedLine("dom0+00_03.0:* port_id='00_04.0' devclass='pci' mode='required'", 'pci'),
    'port mismatch',
  );
  bad(() => parseAssignedLine("dom0+00_03.0:* backend_domain='sys-usb' mode='required'", 'pci'), 'backend mismatch');
  bad(() => parseAssignedLine("dom0+00_03.0:* devclass='usb' mode='required'", 'pci'), 'class mismatch');
  bad(() => parseAssignedLine("dom0+00_03.0:0x1:0x2 device_id='0x3:0x4' mode='required'", 'pci'), 'identity mismatch');
  bad(() => parseAssignedLine("dom0+00_03.0:* mode='manual'", 'pci'), 'manual is not an assignment mode');
  bad(() => parseAssignedLine("dom0 mode='required'", 'pci'), 'no port');
});

test('Assign argument and payload reproduce the recorded requests', () => {
  const required: DeviceAssignment = {
    devclass: 'pci',
    backend: 'dom0',
    port: '00_05.0',
    deviceId: '*',
    mode: 'required',
    options: { 'no-strict-reset': 'True' },
  };
  assert.equal(assignmentArg(required), 'dom0+00_05.0');
  assert.equal(assignmentPayload(required, 'restored-app'), requestPayload('admin.vm.device.pci.Assign/required'));
  const withId: DeviceAssignment = {
    devclass: 'pci',
    backend: 'dom0',
    port: '00_04.0',
    deviceId: '0x1af4:0x1053::pffff00',
    mode: 'required',
    options: {},
  };
  assert.equal(assignmentArg(withId), 'dom0+00_04.0+0x1af4+0x1053++pffff00');
  assert.equal(assignmentPayload(withId, 'restored-app'), requestPayload('admin.vm.device.pci.Assign/with-device-id'));
  const blk: DeviceAssignment = {
    devclass: 'block',
    backend: 'sys-firewall',
    port: 'sda',
    deviceId: '*',
    mode: 'auto-attach',
    options: { 'read-only': 'yes' },
  };
  assert.equal(
    assignmentPayload(blk, 'restored-app'),
    requestPayload('admin.vm.device.block.Assign/device-not-present'),
  );
  // round trip through the Assigned line format
  for (const a of [required, withId, blk, { ...blk, options: { note: "it's" } }]) {
    const line = `${a.backend}+${a.port}:${a.deviceId} ${assignmentPayload(a, 'q')}`;
    assert.deepEqual(parseAssignedLine(line, a.devclass), a);
  }
});

test('4.2 List lines (persistent only) and Attach payload', () => {
  const list =
    'dom0+00_03.0 no-strict-reset=True persistent=yes\nsys-usb+2-1 persistent=no\nsys-usb+sda ' +
    'frontend-dev=xvdi read-only=yes persistent=yes\n';
  assert.deepEqual(parseLegacyList(list, 'pci'), [
    {
      devclass: 'pci',
      backend: 'dom0',
      port: '00_03.0',
      deviceId: '*',
      mode: 'required',
      options: { 'no-strict-reset': 'True' },
    },
    {
      devclass: 'pci',
      backend: 'sys-usb',
      port: 'sda',
      deviceId: '*',
      mode: 'required',
      options: { 'frontend-dev': 'xvdi', 'read-only': 'yes' },
    },
  ]);
  bad(() => parseLegacyList('dom0+00_03.0 no-strict-reset=True\n', 'pci'), 'no persistent field');
  bad(() => parseLegacyList('dom0+00_03.0 persistent=maybe\n', 'pci'), 'bad persistent');
  bad(() => parseLegacyList('dom0+00_03.0 junk persistent=yes\n', 'pci'), 'not opt=value');
  assert.equal(
    legacyAttachPayload({
      devclass: 'pci',
      backend: 'dom0',
      port: '00_03.0',
      deviceId: '*',
      mode: 'required',
      options: { 'no-strict-reset': 'True' },
    }),
    'no-strict-reset=True persistent=True',
  );
  assert.throws(
    () =>
      legacyAttachPayload({
        devclass: 'block',
        backend: 'q',
        port: 'sda',
        deviceId: '*',
        mode: 'required',
        options: { x: 'a b' },
      }),
    /Qubes 4\.2/,
  );
});
