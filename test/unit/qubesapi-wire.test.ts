// The wire format and header validation against the recorded bytes of the real qubesd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WqError } from '../../src/core/errors.ts';
import { QubesApiError, QubesTransportError } from '../../src/core/qubesapi/errors.ts';
import { decodeResponse, encodeRequest } from '../../src/core/qubesapi/wire.ts';
import {
  checkArg,
  checkDeviceId,
  checkFeatureName,
  checkFeatureValue,
  checkPoolName,
  checkPropertyName,
  checkPropertyValue,
  checkQubeName,
  checkTagName,
} from '../../src/core/qubesapi/validate.ts';
import { allExchanges, exchange } from '../helpers/qubesd-transcripts.ts';

const call = { method: 'admin.vm.List', dest: 'dom0', arg: '' };

/** Splits a recorded request into the parts our encoder takes. */
function parts(
  req: Buffer,
): { method: string; arg: string; src: string; destType: string; dest: string; payload: Buffer } | undefined {
  const nul = req.indexOf(0);
  if (nul < 0) return undefined;
  const fields = req.subarray(0, nul).toString('utf8').split(' ');
  if (fields.length !== 4) return undefined;
  const [methArg, src, destType, dest] = fields as [string, string, string, string];
  const plus = methArg.indexOf('+');
  if (plus < 0) return undefined;
  return {
    method: methArg.slice(0, plus),
    arg: methArg.slice(plus + 1),
    src,
    destType,
    dest,
    payload: req.subarray(nul + 1),
  };
}

test('encodeRequest reproduces every well-formed recorded dom0 request byte for byte', () => {
  let checked = 0;
  for (const e of allExchanges()) {
    const p = parts(e.request);
    // protocol.json holds deliberately malformed headers; other sources (a qube) are not what we send
    if (p === undefined || p.src !== 'dom0' || p.destType !== 'name') continue;
    let encoded: Buffer;
    try {
      encoded = encodeRequest({ method: p.method, arg: p.arg, dest: p.dest, payload: p.payload });
    } catch (err) {
      // only the exchanges that probe qubesd with illegal names may be refused by our validation
      // (and `uuid:` destinations: this client addresses qubes by name only)
      assert.ok(err instanceof WqError && err.kind === 'input', `${e.id}: ${String(err)}`);
      assert.match(
        e.id,
        /bad-name|dest-invalid-name|invalid-name|bad-chars|non-ascii|utf8|control-char|space-in-argument|by-uuid/,
        e.id,
      );
      continue;
    }
    assert.ok(
      encoded.equals(e.request),
      `${e.id}: ${JSON.stringify(encoded.toString())} != ${JSON.stringify(e.request.toString())}`,
    );
    checked++;
  }
  assert.ok(checked > 250, `checked ${checked}`);
});

test('decodeResponse: success body, empty body, exception frame with type and message', () => {
  assert.equal(
    decodeResponse(call, exchange('admin.vmclass.List/ok').response).toString(),
    'AppVM\nTemplateVM\nStandaloneVM\nAdminVM\nDispVM\nRemoteVM\n',
  );
  assert.equal(decodeResponse(call, exchange('admin.vm.Start/halted-sys-net').response).length, 0);
  const err = (() => {
    try {
      decodeResponse(
        { method: 'admin.vm.property.Get', dest: 'no-such-qube', arg: 'netvm' },
        exchange('protocol/dest-missing-vm').response,
      );
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  assert.ok(err instanceof QubesApiError);
  assert.equal(err.type, 'QubesVMNotFoundError');
  assert.equal(err.remoteMessage, "No such domain: 'no-such-qube'");
  assert.equal(err.kind, 'admin-api');
  assert.equal(err.remoteType, 'QubesVMNotFoundError');
  assert.equal(err.qube, 'no-such-qube');
  assert.equal(err.exitCode, 1);
  assert.match(
    err.message,
    /No such domain: 'no-such-qube' \(QubesVMNotFoundError, admin\.vm\.property\.Get\+netvm on no-such-qube\)/,
  );
});

test('every recorded exception frame decodes to a QubesApiError named after the qubesd class', () => {
  let n = 0;
  for (const e of allExchanges()) {
    if (e.response[0] !== 0x32) continue;
    assert.throws(
      () => decodeResponse(call, e.response),
      (err: unknown) => err instanceof QubesApiError && /^[A-Z]\w+$/.test(err.type) && err.remoteMessage.length > 0,
      e.id,
    );
    n++;
  }
  assert.ok(n > 60, `${n} exception frames`);
});

test('empty, truncated, event and unknown answers are transport errors', () => {
  const reason = (bytes: Buffer): string => {
    try {
      decodeResponse(call, bytes);
    } catch (e) {
      if (e instanceof QubesTransportError) return e.reason;
      throw e;
    }
    return 'decoded';
  };
  assert.equal(reason(exchange('admin.vm.property.Set/qid-read-only').response), 'empty-response');
  assert.equal(reason(Buffer.from('0')), 'malformed');
  assert.equal(reason(Buffer.from('0x')), 'malformed');
  assert.equal(reason(Buffer.from('3\0abc')), 'malformed');
  assert.equal(reason(Buffer.from('1\0\0connection-established\0\0')), 'malformed');
  assert.equal(reason(Buffer.from('2\0QubesValueError\0\0no terminator')), 'malformed');
  assert.equal(reason(Buffer.from('2\0QubesValueError\0\0msg\0extra\0')), 'malformed');
  assert.equal(reason(Buffer.from('2\0bad type!\0\0msg\0')), 'malformed');
  assert.equal(reason(Buffer.from('2\0')), 'malformed');
});

test('illegal header parts are refused before encoding (kind input)', () => {
  const bad: Array<[string, () => unknown]> = [
    ['space in argument', () => encodeRequest({ method: 'admin.vm.feature.Set', arg: 'bad name', dest: 'work' })],
    ['NUL in argument', () => encodeRequest({ method: 'admin.vm.feature.Set', arg: 'a\0b', dest: 'work' })],
    ['slash in argument', () => encodeRequest({ method: 'admin.vm.feature.Set', arg: 'bad/name', dest: 'work' })],
    ['non-ASCII argument', () => encodeRequest({ method: 'admin.vm.tag.Set', arg: 'café', dest: 'work' })],
    ['space in dest', () => encodeRequest({ method: 'admin.vm.List', arg: '', dest: 'dom0 name x' })],
    ['bad dest name', () => encodeRequest({ method: 'admin.vm.property.Get', arg: 'netvm', dest: 'bad.name!' })],
    ['dest with NUL', () => encodeRequest({ method: 'admin.vm.List', arg: '', dest: 'dom0\0' })],
    ['empty dest', () => encodeRequest({ method: 'admin.vm.List', arg: '', dest: '' })],
    ['method with space', () => encodeRequest({ method: 'admin.vm.List x', arg: '', dest: 'dom0' })],
    ['method with plus', () => encodeRequest({ method: 'admin.vm.List+x', arg: '', dest: 'dom0' })],
  ];
  for (const [what, fn] of bad) {
    assert.throws(fn, (e: unknown) => e instanceof WqError && e.kind === 'input' && /Invalid/.test(e.message), what);
  }
});

test("requests over qubesd's 65536-byte limit are refused", () => {
  assert.throws(
    () => encodeRequest({ method: 'admin.vm.firewall.Set', arg: '', dest: 'work', payload: 'x'.repeat(65536) }),
    (e: unknown) => e instanceof QubesTransportError && e.reason === 'too-large',
  );
  assert.equal(
    encodeRequest({ method: 'admin.vm.firewall.Set', arg: '', dest: 'work', payload: 'x'.repeat(60000) }).length,
    60000 + 'admin.vm.firewall.Set+ dom0 name work\0'.length,
  );
});

test('name rules follow qubesd and qrexec', () => {
  const ok = (fn: () => unknown): void => void fn();
  const no = (fn: () => unknown, what: string): void =>
    assert.throws(fn, (e: unknown) => e instanceof WqError && e.kind === 'input', what);
  ok(() => checkQubeName('sys-net'));
  ok(() => checkQubeName('dom0'));
  no(() => checkQubeName('1bad'), 'digit first');
  no(() => checkQubeName('a'.repeat(32)), 'too long');
  no(() => checkQubeName('x-dm'), '-dm');
  ok(() => checkPropertyName('default_dispvm'));
  no(() => checkPropertyName('no-dash'), 'dash in property');
  no(() => checkPropertyName(''), 'empty property');
  ok(() => checkFeatureName('service.crond'));
  ok(() => checkFeatureName('menu-items'));
  no(() => checkFeatureName('bad/name'), 'slash in feature');
  no(() => checkFeatureName('bad name'), 'space in feature');
  ok(() => checkTagName('backup-restore-in-progress'));
  no(() => checkTagName('bad.tag'), 'dot in tag (QubesInvalidTagError)');
  ok(() => checkPoolName('vm-pool'));
  no(() => checkPoolName('pool/x'), 'slash in pool');
  ok(() => checkDeviceId('0x1af4:0x1053::pffff00'));
  ok(() => checkDeviceId('*'));
  no(() => checkDeviceId("a'b"), 'quote in device id');
  ok(() => checkArg('dom0+00_04.0+0x1af4+0x1053++pffff00'));
  ok(() => checkArg(''));
  no(() => checkArg('a:b'), 'colon in argument');
  ok(() => checkFeatureValue('menu-items', 'firefox.desktop xterm.desktop'));
  ok(() => checkFeatureValue('x-empty', ''));
  no(() => checkFeatureValue('x-note', 'a\nb'), 'newline in feature value');
  no(() => checkFeatureValue('x-note', 'café'), 'non-ASCII feature value');
  ok(() => checkPropertyValue('kernelopts', 'nopat apparmor=1'));
  no(() => checkPropertyValue('kernelopts', 'café'), 'non-ASCII property value');
});
