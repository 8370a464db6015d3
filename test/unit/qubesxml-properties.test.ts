// The property table (src/core/qubes/properties.ts) checked against what the real qubesd
// 4.4.0 answered (test/data/qubesd/transcripts): every GetAll line's type, the
// GetAll order, defaults, and the Set/Reset/GetDefault behaviour the table predicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WqError } from '../../src/core/errors.ts';
import type { QubeClass } from '../../src/core/qubes/model.ts';
import {
  GLOBAL_PROPERTIES,
  REFERENCE_PROPERTIES,
  RESTORE_EXCLUDED_PROPERTIES,
  VM_PROPERTIES,
  WYNG_UTIL_QUBES_SKIPPED_PROPERTIES,
  globalProperties,
  globalPropertyInfo,
  isGlobalReferenceProperty,
  isReferenceProperty,
  normalisePropertyValue,
  propertiesOf,
  propertyInfo,
  restoreExclusionReason,
} from '../../src/core/qubes/properties.ts';
import { parseQubesXml } from '../../src/core/qubesxml/index.ts';
import { QUBESD_RECORDING } from '../helpers/test-data.ts';

const QUBESD = QUBESD_RECORDING;
const TRANSCRIPTS = join(QUBESD, 'transcripts');

interface Exchange {
  sequence: number;
  name: string;
  request: string;
  response: string;
}

function exchanges(method: string): Exchange[] {
  const doc = JSON.parse(readFileSync(join(TRANSCRIPTS, `${method}.json`), 'utf8')) as { exchanges: Exchange[] };
  assert.ok(doc.exchanges.length > 0, `${method} has recorded exchanges`);
  return doc.exchanges;
}

interface GetAllLine {
  name: string;
  isDefault: boolean;
  type: string;
  value: string;
}

function parseGetAll(response: string): GetAllLine[] {
  assert.ok(response.startsWith('0\0'), 'a success frame');
  return response
    .slice(2)
    .split('\n')
    .filter((l) => l !== '')
    .map((line) => {
      const m = /^(\S+) default=(True|False) type=(\S+) (.*)$/.exec(line);
      assert.ok(m, `GetAll line: ${line}`);
      return { name: m[1] as string, isDefault: m[2] === 'True', type: m[3] as string, value: m[4] as string };
    });
}

/** header `method+arg src name DEST\0payload` → dest */
function destOf(request: string): string {
  return (request.split('\0')[0] as string).split(' ')[3] as string;
}
function argOf(request: string): string {
  const head = (request.split('\0')[0] as string).split(' ')[0] as string;
  return head.slice(head.indexOf('+') + 1);
}

// classes of the qubes the transcripts talk about
const CLASSES = new Map<string, QubeClass>();
for (const f of ['qubes.xml', 'qubes-after-transcripts.xml']) {
  for (const q of parseQubesXml(readFileSync(join(QUBESD, f))).qubes) CLASSES.set(q.name, q.klass);
}
function classOf(name: string): QubeClass {
  const k = CLASSES.get(name);
  assert.ok(k, `class of ${name} known`);
  return k;
}

const globalsRecorded = parseGetAll((exchanges('admin.property.GetAll')[0] as Exchange).response);
const globalValue = new Map(globalsRecorded.map((l) => [l.name, l.value]));

test('every property of every recorded admin.vm.property.GetAll has the type the table gives, in GetAll order', () => {
  let checked = 0;
  for (const ex of exchanges('admin.vm.property.GetAll')) {
    const lines = parseGetAll(ex.response);
    const klassLine = lines.find((l) => l.name === 'klass');
    assert.ok(klassLine);
    const klass = klassLine.value as QubeClass;
    assert.equal(klass, classOf(destOf(ex.request)), `${ex.name}: class`);
    for (const line of lines) {
      const spec = propertyInfo(line.name, klass);
      assert.ok(spec, `${ex.name}: ${klass} has '${line.name}' in the table`);
      assert.equal(spec.type, line.type, `${ex.name}: type of ${line.name}`);
      checked++;
    }
    assert.deepEqual(
      lines.map((l) => l.name),
      propertiesOf(klass).map((s) => s.name),
      `${ex.name}: the table lists exactly the ${klass} properties, in qubesd's GetAll order`,
    );
  }
  assert.ok(checked > 500, `checked ${checked} property lines`);
});

test('the recorded admin.property.GetAll matches the global table (names, types, order)', () => {
  assert.deepEqual(
    globalsRecorded.map((l) => `${l.name}:${l.type}`),
    globalProperties().map((s) => `${s.name}:${s.type}`),
  );
  for (const l of globalsRecorded) {
    const spec = globalPropertyInfo(l.name);
    assert.ok(spec);
    if (!l.isDefault) continue;
    if (spec.default.kind === 'constant') assert.equal(l.value, spec.default.value, `global ${l.name} default`);
    if (spec.default.kind === 'global')
      assert.equal(l.value, globalValue.get(spec.default.global), `global ${l.name} follows ${spec.default.global}`);
  }
});

test('defaults: constant and inherited-from-global rules give the values qubesd reported for default=True', () => {
  let checked = 0;
  for (const ex of exchanges('admin.vm.property.GetAll')) {
    const lines = parseGetAll(ex.response);
    const klass = lines.find((l) => l.name === 'klass')?.value as QubeClass;
    for (const line of lines) {
      const spec = propertyInfo(line.name, klass);
      assert.ok(spec);
      if (!line.isDefault) {
        assert.notEqual(spec.stored, false, `${ex.name}: ${line.name} has an explicit value, so it is stored`);
        continue;
      }
      const rule = spec.default;
      if (rule.kind === 'constant') {
        assert.equal(line.value, rule.value, `${ex.name}: default of ${line.name}`);
        checked++;
      } else if (rule.kind === 'global' && rule.fromTemplate !== true) {
        assert.equal(
          line.value,
          globalValue.get(rule.global),
          `${ex.name}: ${line.name} follows global ${rule.global}`,
        );
        checked++;
      } else if (rule.kind === 'none' && line.name !== 'label') {
        // no default: unset ints read as '', references as none; label is the Reset-broken case
        assert.equal(line.value, '', `${ex.name}: ${line.name} without default is empty`);
        checked++;
      }
    }
  }
  assert.ok(checked > 100, `checked ${checked} defaults`);
});

test('GetDefault: an empty body exactly for the properties the table says have no default', () => {
  for (const ex of exchanges('admin.vm.property.GetDefault')) {
    if (!ex.response.startsWith('0\0')) continue;
    const spec = propertyInfo(argOf(ex.request), classOf(destOf(ex.request)));
    assert.ok(spec, ex.request);
    const body = ex.response.slice(2);
    if (body === '') assert.equal(spec.default.kind, 'none', `${spec.name} has no default`);
    else {
      assert.notEqual(spec.default.kind, 'none', `${spec.name} has a default`);
      assert.equal(body.split(' ')[0], `type=${spec.type}`);
    }
  }
});

test('Set and Reset: write-once properties get no reply, read-only ones are refused, unknown ones do not exist', () => {
  let checked = 0;
  for (const method of ['admin.vm.property.Set', 'admin.vm.property.Reset']) {
    for (const ex of exchanges(method)) {
      const name = argOf(ex.request);
      const spec = propertyInfo(name, classOf(destOf(ex.request)));
      if (ex.response === '') {
        assert.equal(spec?.access, 'write-once', `${method} ${name}: empty response means write-once`);
      } else if (ex.response.includes('cannot be set')) {
        assert.equal(spec?.access, 'read-only', `${method} ${name}`);
      } else if (ex.response.includes('QubesNoSuchPropertyError')) {
        assert.equal(spec, undefined, `${method} ${name}: not a property of this class`);
      } else if (ex.response === '0\0' && method.endsWith('Set')) {
        assert.equal(spec?.access, 'settable', `${method} ${name} succeeded`);
      } else continue;
      checked++;
    }
  }
  for (const ex of exchanges('admin.property.Set')) {
    const spec = globalPropertyInfo(argOf(ex.request));
    if (ex.response.includes('cannot be set')) assert.equal(spec?.access, 'read-only');
    if (ex.response === '0\0') assert.equal(spec?.access, 'settable');
  }
  assert.ok(checked > 30, `checked ${checked} exchanges`);
});

test('propertyInfo distinguishes classes and versions', () => {
  assert.equal(propertyInfo('template', 'AppVM')?.type, 'vm');
  assert.equal(propertyInfo('template', 'TemplateVM'), undefined);
  assert.equal(propertyInfo('template', 'StandaloneVM'), undefined);
  assert.deepEqual(propertyInfo('netvm', 'AppVM')?.default, { kind: 'global', global: 'default_netvm' });
  assert.deepEqual(propertyInfo('netvm', 'TemplateVM')?.default, { kind: 'none' });
  assert.deepEqual(propertyInfo('template', 'AppVM')?.default, { kind: 'none' });
  assert.deepEqual(propertyInfo('default_dispvm', 'AppVM')?.default, { kind: 'global', global: 'default_dispvm' });
  assert.deepEqual(propertyInfo('kernel', 'AppVM')?.default, {
    kind: 'global',
    global: 'default_kernel',
    fromTemplate: true,
  });
  assert.equal(propertyInfo('default_dispvm', 'DispVM')?.default.kind, 'computed');
  assert.equal(propertyInfo('dispid', 'DispVM')?.access, 'write-once');
  assert.equal(propertyInfo('dispid', 'AppVM'), undefined);
  assert.equal(propertyInfo('template_for_dispvms', 'TemplateVM'), undefined);
  assert.equal(propertyInfo('template_for_dispvms', 'StandaloneVM')?.type, 'bool');
  assert.equal(propertyInfo('name', 'AdminVM')?.access, 'read-only');
  assert.equal(propertyInfo('name', 'AppVM')?.access, 'write-once');
  assert.equal(propertyInfo('label', 'AdminVM')?.access, 'settable');
  // release differences
  assert.equal(propertyInfo('bootmode', 'AppVM', '4.2'), undefined);
  assert.equal(propertyInfo('bootmode', 'AppVM', '4.3')?.type, 'str');
  assert.equal(propertyInfo('maxmem', 'AdminVM', '4.3'), undefined);
  assert.equal(propertyInfo('maxmem', 'AdminVM', '4.4')?.access, 'read-only');
  assert.equal(globalPropertyInfo('no_cpus', '4.3'), undefined);
  assert.ok(propertiesOf('AppVM', '4.2').length < propertiesOf('AppVM', '4.4').length);
  // one definition per (name, class)
  for (const klass of ['AdminVM', 'AppVM', 'TemplateVM', 'StandaloneVM', 'DispVM', 'RemoteVM'] as const) {
    const names = propertiesOf(klass).map((s) => s.name);
    assert.equal(new Set(names).size, names.length, `${klass}: no name twice`);
  }
  assert.equal(new Set(GLOBAL_PROPERTIES.map((s) => s.name)).size, GLOBAL_PROPERTIES.length);
});

test('reference properties are exactly the vm-typed ones', () => {
  for (const name of ['netvm', 'template', 'default_dispvm', 'guivm', 'audiovm', 'management_dispvm']) {
    assert.ok(isReferenceProperty(name), name);
    assert.ok(isReferenceProperty(name, 'DispVM') || name === 'template_for_dispvms', `${name} on DispVM`);
  }
  assert.equal(isReferenceProperty('template', 'TemplateVM'), false);
  for (const name of ['label', 'kernel', 'memory', 'name', 'template_for_dispvms'])
    assert.equal(isReferenceProperty(name), false, name);
  for (const name of ['default_netvm', 'default_template', 'clockvm', 'updatevm', 'default_dispvm', 'default_guivm'])
    assert.ok(isGlobalReferenceProperty(name), name);
  assert.equal(isGlobalReferenceProperty('default_kernel'), false);
  assert.deepEqual(
    REFERENCE_PROPERTIES,
    [...new Set(VM_PROPERTIES.filter((s) => s.type === 'vm').map((s) => s.name))].sort(),
  );
});

test('restore exclusions: the wyng-util-qubes skip list, identity, computed and host-specific properties', () => {
  assert.deepEqual(
    [...WYNG_UTIL_QUBES_SKIPPED_PROPERTIES].sort(),
    (
      'dispid installed_by_rpm default_dispvm qid uuid xid klass label name ' +
      'backup_timestamp ip ip6 stubdom_mem stubdom_xid'
    )
      .split(' ')
      .sort(),
  );
  for (const name of [
    'qid',
    'uuid',
    'name',
    'dispid',
    'klass',
    'xid',
    'stubdom_xid',
    'stubdom_uuid',
    'start_time',
    'icon',
    'visible_ip',
    'visible_ip6',
    'visible_gateway',
    'visible_gateway6',
    'visible_netmask',
    'gateway',
    'gateway6',
    'dns',
    'updateable',
    'ip',
    'ip6',
    'mac',
    'installed_by_rpm',
    'stubdom_mem',
    'backup_timestamp',
  ]) {
    assert.ok(RESTORE_EXCLUDED_PROPERTIES.includes(name), `${name} excluded (design.md "Admin API contract")`);
  }
  for (const name of [
    'netvm',
    'memory',
    'maxmem',
    'kernel',
    'kernelopts',
    'vcpus',
    'include_in_backups',
    'template_for_dispvms',
    'provides_network',
    'label',
    'template',
  ]) {
    assert.ok(!RESTORE_EXCLUDED_PROPERTIES.includes(name), `${name} is restored`);
  }
  assert.equal(restoreExclusionReason('qid', 'AppVM'), 'write-once identity property');
  assert.equal(restoreExclusionReason('xid', 'AppVM'), 'read-only (computed) property');
  assert.equal(restoreExclusionReason('ip', 'AppVM'), 'host-specific value');
  assert.equal(restoreExclusionReason('label', 'AppVM'), 'restored in its own step');
  assert.equal(restoreExclusionReason('netvm', 'AppVM'), undefined);
  assert.match(restoreExclusionReason('template', 'TemplateVM') ?? '', /has no property/);
});

test('normalisePropertyValue: bool and int as qubesd parses them, canonical text out', () => {
  for (const t of ['1', 'yes', 'true', 'on', 'TRUE', 'Yes', 'On', 'True', ' true '])
    assert.equal(normalisePropertyValue('bool', t), 'True', t);
  for (const t of ['0', 'no', 'false', 'off', 'FALSE', 'No', 'OFF', 'False'])
    assert.equal(normalisePropertyValue('bool', t), 'False', t);
  for (const t of ['maybe', '', '2', 'truee']) {
    assert.throws(
      () => normalisePropertyValue('bool', t),
      (e: unknown) => e instanceof WqError && e.kind === 'input' && /boolean/.test(e.message),
      t,
    );
  }
  assert.equal(normalisePropertyValue('int', '800'), '800');
  assert.equal(normalisePropertyValue('int', ' 800'), '800'); // accepted by qubesd (transcript Set memory ' 800')
  assert.equal(normalisePropertyValue('int', '8_00'), '800');
  assert.equal(normalisePropertyValue('int', '+5'), '5');
  assert.equal(normalisePropertyValue('int', '-1'), '-1');
  assert.equal(normalisePropertyValue('int', '007'), '7');
  assert.equal(normalisePropertyValue('int', '-0'), '0');
  assert.equal(normalisePropertyValue('int', ''), ''); // unset
  for (const t of ['abc', '1.5', '8__0', '_8', '0x10', '1e3'])
    assert.throws(() => normalisePropertyValue('int', t), WqError, t);
  assert.equal(normalisePropertyValue('vm', ''), '');
  assert.equal(normalisePropertyValue('vm', 'sys-net'), 'sys-net');
  assert.equal(normalisePropertyValue('vm', 'dom0'), 'dom0');
  assert.throws(() => normalisePropertyValue('vm', 'bad name'), WqError);
  assert.throws(() => normalisePropertyValue('vm', '-x'), WqError);
  assert.equal(normalisePropertyValue('str', '  nopat apparmor=1 '), '  nopat apparmor=1 ');
  assert.equal(normalisePropertyValue('label', 'blue'), 'blue');
  assert.throws(() => normalisePropertyValue('label', 'bl ue'), WqError);
});
