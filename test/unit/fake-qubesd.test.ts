// The fake qubesd beyond the recorded transcripts: volume files on create/remove/start/stop,
// power state, the 4.2 device API switch, injected faults, the call log, the CLI entry.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { parseFirewallXml, parseQubesXml } from '../../src/core/qubesxml/index.ts';
import { encodeRequest, startFakeQubesd, type FakeQubesd, type FakeQubesdOptions } from '../fakes/qubesd/index.ts';
import { QUBESD_RECORDING } from '../helpers/test-data.ts';

const SEED = join(QUBESD_RECORDING, 'qubes.xml');
const ROOT = join(import.meta.dirname, '..', '..');

type Reply = { code: '0'; body: string } | { code: '2'; type: string; message: string } | { code: 'empty' };

function decode(raw: Buffer): Reply {
  if (raw.length === 0) return { code: 'empty' };
  const text = raw.toString('utf8');
  if (text.startsWith('0\0')) return { code: '0', body: text.slice(2) };
  assert.ok(text.startsWith('2\0'), `unexpected reply ${JSON.stringify(text)}`);
  const [type, , message] = text.slice(2).split('\0');
  return { code: '2', type: type as string, message: message as string };
}

async function call(
  fake: FakeQubesd,
  method: string,
  arg: string,
  dest: string,
  payload = '',
  src = 'dom0',
): Promise<Reply> {
  return decode(await fake.rawCall(encodeRequest(method, arg, dest, payload, src)));
}

async function ok(fake: FakeQubesd, method: string, arg: string, dest: string, payload = ''): Promise<string> {
  const r = await call(fake, method, arg, dest, payload);
  assert.equal(r.code, '0', `${method}+${arg} ${dest}: ${JSON.stringify(r)}`);
  return (r as { body: string }).body;
}

async function fails(
  fake: FakeQubesd,
  method: string,
  arg: string,
  dest: string,
  payload = '',
): Promise<{ type: string; message: string }> {
  const r = await call(fake, method, arg, dest, payload);
  assert.equal(r.code, '2', `${method}+${arg} ${dest} should fail: ${JSON.stringify(r)}`);
  const { type, message } = r as { type: string; message: string };
  return { type, message };
}

const dirs: string[] = [];
let fake: FakeQubesd | undefined;

async function start(opts: Partial<FakeQubesdOptions> = {}): Promise<{ fake: FakeQubesd; root: string }> {
  const root = mkdtempSync(join(tmpdir(), 'wq-fake-qubesd-'));
  dirs.push(root);
  fake = await startFakeQubesd({ qubesXml: SEED, poolsDir: root, ...opts });
  return { fake, root };
}

afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('fake qubesd: wire framing', () => {
  it('answers nothing to a header without NUL, with three fields, or a request over 64 KiB', async () => {
    const { fake } = await start();
    assert.equal((await fake.rawCall(Buffer.from('admin.vm.List+ dom0 name dom0'))).length, 0);
    assert.equal((await fake.rawCall(Buffer.from('admin.vm.List+ dom0 dom0\0'))).length, 0);
    const big = Buffer.concat([Buffer.from('admin.vm.feature.Set+x dom0 name work\0'), Buffer.alloc(70000, 0x61)]);
    assert.equal((await fake.rawCall(big)).length, 0);
    assert.equal(fake.callLog.at(-1)?.why, 'request too long');
    // the same call within the limit is served
    assert.equal(decode(await fake.rawCall(Buffer.from('admin.vm.List dom0 keyword adminvm\0'))).code, '0');
  });

  it('names a non-ASCII argument an internal error (no reply) and an unknown method a ProtocolError', async () => {
    const { fake } = await start();
    assert.equal(
      (await fake.rawCall(Buffer.from('admin.vm.feature.Get+caf\u00e9 dom0 name work\0', 'utf8'))).length,
      0,
    );
    const r = await fails(fake, 'admin.vm.Frobnicate', '', 'dom0');
    assert.deepEqual(r, { type: 'ProtocolError', message: "no such method: 'admin.vm.Frobnicate'" });
  });
});

describe('fake qubesd: create and remove with real files', () => {
  it('creates the volume images of a new AppVM and TemplateVM (sparse, small) and removes them again', async () => {
    const { fake, root } = await start();
    await ok(fake, 'admin.vm.Create.AppVM', 'fedora-41', 'dom0', 'name=wq-app label=red');
    await ok(fake, 'admin.vm.CreateInPool.TemplateVM', '', 'dom0', 'name=wq-tpl label=black pool=vm-pool');
    const priv = join(root, 'var/lib/qubes/appvms/wq-app/private.img');
    assert.equal(fake.volumePath('wq-app', 'private'), priv);
    assert.ok(existsSync(priv));
    assert.equal(statSync(priv).size, 1 << 20);
    assert.equal(statSync(priv).blocks, 0, 'sparse');
    // an AppVM's root is a snapshot of the template's: no own image while halted
    assert.ok(!existsSync(join(root, 'var/lib/qubes/appvms/wq-app/root.img')));
    for (const v of ['root', 'private'])
      assert.ok(existsSync(join(root, `mnt/vm-pool/vm-templates/wq-tpl/${v}.img`)), v);
    const info = await ok(fake, 'admin.vm.volume.Info', 'root', 'wq-tpl');
    assert.match(info, /^pool=vm-pool\nvid=vm-templates\/wq-tpl\/root\nsize=1048576\n/);
    assert.ok(info.includes(`path=${join(root, 'mnt/vm-pool/vm-templates/wq-tpl/root-dirty.img')}\n`));
    // qubesd tags what it creates and gives it the next free qid
    assert.equal(await ok(fake, 'admin.vm.tag.List', '', 'wq-app'), 'audiovm-dom0\ncreated-by-dom0\nguivm-dom0\n');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'qid', 'wq-app'), 'default=False type=int 11');

    await ok(fake, 'admin.vm.Remove', '', 'wq-app');
    assert.ok(!existsSync(priv));
    assert.ok(!existsSync(join(root, 'var/lib/qubes/appvms/wq-app')));
    assert.equal(fake.volumePath('wq-app', 'private'), undefined);
    const gone = await fails(fake, 'admin.vm.property.Get', 'label', 'wq-app');
    assert.equal(gone.type, 'QubesVMNotFoundError');
  });

  it('refuses to remove a template in use and leaves its files alone', async () => {
    const { fake, root } = await start();
    const r = await fails(fake, 'admin.vm.Remove', '', 'fedora-41');
    assert.equal(r.type, 'QubesVMInUseError');
    assert.ok(existsSync(join(root, 'var/lib/qubes/vm-templates/fedora-41/root.img')));
  });

  it('creates a named disposable from a disposable template with its features and tags', async () => {
    const { fake } = await start();
    await ok(fake, 'admin.vm.Create.DispVM', 'fedora-41-dvm', 'dom0', 'name=wq-disp label=red');
    assert.equal(await ok(fake, 'admin.vm.feature.List', '', 'wq-disp'), 'appmenus-dispvm\n');
    const ip = await ok(fake, 'admin.vm.property.Get', 'ip', 'wq-disp');
    assert.match(ip, /^default=True type=str 10\.138\.\d+\.\d+$/);
    assert.equal(
      await ok(fake, 'admin.vm.property.Get', 'default_dispvm', 'wq-disp'),
      'default=True type=vm fedora-41-dvm',
    );
  });
});

describe('fake qubesd: power state and volume files', () => {
  it('starts a qube with its network chain, keeps data written while running, revision at shutdown', async () => {
    const { fake, root } = await start();
    await ok(fake, 'admin.vm.Start', '', 'work');
    for (const q of ['work', 'sys-firewall', 'sys-net']) {
      assert.match(await ok(fake, 'admin.vm.List', '', q), / state=Running /, q);
    }
    assert.equal(
      await ok(fake, 'admin.vm.CurrentState', '', 'work'),
      'mem=800 mem_static_max=8192000 cputime=0 power_state=Running',
    );
    const xid = await ok(fake, 'admin.vm.property.Get', 'xid', 'work');
    assert.match(xid, /^default=True type=int [1-9][0-9]*$/);
    // the running image; the VM "writes" into it
    const dirty = join(root, 'mnt/vm-pool/appvms/work/private-dirty.img');
    assert.ok(existsSync(dirty));
    const fd = openSync(dirty, 'r+');
    writeSync(fd, Buffer.from('hello from work'), 0, 15, 4096);
    closeSync(fd);
    // the root snapshot is a hard link of the template's image: not outdated
    assert.match(await ok(fake, 'admin.vm.volume.Info', 'root', 'work'), /is_outdated=False\n$/);

    const inUse = await fails(fake, 'admin.vm.Shutdown', '', 'sys-firewall');
    assert.deepEqual(inUse, { type: 'QubesVMInUseError', message: 'There are other VMs connected to this VM: work' });
    await ok(fake, 'admin.vm.Shutdown', 'wait', 'work');
    assert.match(await ok(fake, 'admin.vm.List', '', 'work'), / state=Halted /);
    assert.ok(!existsSync(dirty));
    const clean = readFileSync(join(root, 'mnt/vm-pool/appvms/work/private.img'));
    assert.equal(clean.subarray(4096, 4096 + 15).toString(), 'hello from work');
    assert.equal(await ok(fake, 'admin.vm.volume.ListSnapshots', 'private', 'work'), '1\n');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'xid', 'work'), 'default=True type=int -1');
    const r = await fails(fake, 'admin.vm.Kill', '', 'work');
    assert.deepEqual(r, { type: 'QubesVMNotStartedError', message: "Domain is powered off: 'work'" });
  });

  it("pauses and unpauses, and refuses to change a running qube's template", async () => {
    const { fake } = await start({ running: ['personal'] });
    await ok(fake, 'admin.vm.Pause', '', 'personal');
    assert.match(await ok(fake, 'admin.vm.List', '', 'personal'), / state=Paused /);
    const r = await fails(fake, 'admin.vm.Shutdown', '', 'personal');
    assert.equal(r.type, 'QubesVMNotRunningError');
    await ok(fake, 'admin.vm.Unpause', '', 'personal');
    const t = await fails(fake, 'admin.vm.property.Set', 'template', 'personal', 'fedora-41');
    assert.deepEqual(t, { type: 'QubesVMNotHaltedError', message: 'Cannot change template while qube is running' });
    assert.equal((await fails(fake, 'admin.vm.Unpause', '', 'personal')).type, 'QubesVMNotPausedError');
  });

  it('refuses to start a qube whose required PCI device is absent', async () => {
    const { fake } = await start();
    await ok(fake, 'admin.vm.property.Set', 'netvm', 'vault', '');
    await ok(
      fake,
      'admin.vm.device.pci.Assign',
      'dom0+00_09.0',
      'vault',
      "device_id='*' port_id='00_09.0' devclass='pci' backend_domain='dom0' mode='required'",
    );
    const r = await fails(fake, 'admin.vm.Start', '', 'vault');
    assert.equal(r.type, 'QubesException');
    assert.match(r.message, /pci_0000_00_09_0/);
    assert.match(await ok(fake, 'admin.vm.List', '', 'vault'), / state=Halted /);
  });

  it('copies a volume with CloneFrom/CloneTo', async () => {
    const { fake, root } = await start();
    const src = join(root, 'mnt/vm-pool/appvms/work/private.img');
    const fd = openSync(src, 'r+');
    writeSync(fd, Buffer.from('payload'), 0, 7, 0);
    closeSync(fd);
    const token = await ok(fake, 'admin.vm.volume.CloneFrom', 'private', 'work');
    assert.match(token, /^[A-Za-z0-9_-]{32}$/);
    await ok(fake, 'admin.vm.volume.CloneTo', 'private', 'vault', token);
    assert.equal(
      readFileSync(join(root, 'var/lib/qubes/appvms/vault/private.img')).subarray(0, 7).toString(),
      'payload',
    );
    assert.equal(
      (await fails(fake, 'admin.vm.volume.CloneTo', 'private', 'vault', token)).type,
      'QubesVolumeCopyTokenNotFoundError',
    );
  });
});

describe('fake qubesd: property semantics', () => {
  it('follows the global default_netvm and default_dispvm until a qube has its own value', async () => {
    const { fake } = await start();
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'netvm', 'work'), 'default=True type=vm sys-firewall');
    await ok(fake, 'admin.property.Set', 'default_netvm', 'dom0', 'sys-net');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'netvm', 'work'), 'default=True type=vm sys-net');
    assert.equal(
      await ok(fake, 'admin.vm.property.Get', 'visible_gateway', 'work'),
      'default=True type=str 10.137.0.2',
    );
    await ok(fake, 'admin.vm.property.Set', 'netvm', 'work', 'sys-firewall');
    await ok(fake, 'admin.property.Reset', 'default_netvm', 'dom0');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'netvm', 'work'), 'default=False type=vm sys-firewall');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'netvm', 'personal'), 'default=False type=vm ');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'netvm', 'vault'), 'default=False type=vm ');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'netvm', 'fedora-41-dvm'), 'default=True type=vm ');
  });

  it('takes memory, vcpus and kernelopts from the template', async () => {
    const { fake } = await start();
    await ok(fake, 'admin.vm.property.Set', 'vcpus', 'fedora-41', '6');
    await ok(fake, 'admin.vm.property.Set', 'kernelopts', 'fedora-41', 'quiet');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'vcpus', 'personal'), 'default=True type=int 6');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'kernelopts', 'personal'), 'default=True type=str quiet');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'vcpus', 'work'), 'default=False type=int 4');
  });

  it('leaves a qube without a label after Reset of label, and refuses to reset the template', async () => {
    const { fake } = await start();
    await ok(fake, 'admin.vm.property.Reset', 'label', 'vault');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'label', 'vault'), 'default=True type=label ');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'icon', 'vault'), 'default=True type=str ');
    const r = await fails(fake, 'admin.vm.property.Reset', 'template', 'vault');
    assert.equal(r.message, 'Cannot unset template. You can set it to the current default (fedora-41) instead');
    assert.equal((await call(fake, 'admin.vm.property.Reset', 'qid', 'vault')).code, 'empty');
  });

  it('servicevm feature follows provides_network; a netvm that provides no network is refused', async () => {
    const { fake } = await start();
    const r = await fails(fake, 'admin.vm.property.Set', 'netvm', 'work', 'vault');
    assert.deepEqual(r, { type: 'QubesValueError', message: 'The vault qube does not provide network' });
    await ok(fake, 'admin.vm.property.Set', 'provides_network', 'vault', 'True');
    assert.equal(await ok(fake, 'admin.vm.feature.Get', 'servicevm', 'vault'), '1');
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'icon', 'vault'), 'default=True type=str servicevm-purple');
    await ok(fake, 'admin.vm.property.Set', 'netvm', 'work', 'vault');
    const busy = await fails(fake, 'admin.vm.property.Set', 'provides_network', 'vault', 'False');
    assert.equal(busy.type, 'QubesValueError');
    await ok(fake, 'admin.vm.property.Reset', 'netvm', 'work');
    await ok(fake, 'admin.vm.property.Reset', 'provides_network', 'vault');
    assert.equal((await fails(fake, 'admin.vm.feature.Get', 'servicevm', 'vault')).type, 'QubesFeatureNotFoundError');
  });

  it("keeps features printable ASCII and refuses qubesd's reserved features", async () => {
    const { fake } = await start();
    assert.equal(
      (await fails(fake, 'admin.vm.feature.Set', 'x', 'work', 'a\tb')).message,
      'x value contains illegal characters',
    );
    assert.equal(
      (await fails(fake, 'admin.vm.feature.Set', 'preload-dispvm-in-progress', 'work', '1')).type,
      'PermissionDenied',
    );
    await ok(fake, 'admin.vm.feature.Set', 'x', 'work', 'a b ~');
    assert.equal(await ok(fake, 'admin.vm.feature.Get', 'x', 'work'), 'a b ~');
  });
});

describe('fake qubesd: Qubes 4.2 device API', () => {
  it('closes the connection for the 4.3 names (no reply, as qubesd 4.2) and serves List/Attach/Detach', async () => {
    const { fake } = await start({ api: '4.2' });
    const raw = (method: string, arg: string, dest: string): Promise<Buffer> =>
      fake.rawCall(encodeRequest(method, arg, dest, '', 'dom0'));
    assert.equal((await raw('admin.vm.device.pci.Assigned', '', 'sys-net')).length, 0);
    assert.equal(fake.callLog.at(-1)?.outcome, 'dropped');
    // so does every ProtocolError and PermissionDenied of 4.2
    assert.equal((await raw('admin.vm.List', 'x', 'dom0')).length, 0);
    assert.equal((await raw('admin.pool.Info', 'no-such-pool', 'dom0')).length, 0);
    assert.equal(
      await ok(fake, 'admin.vm.device.pci.List', '', 'sys-net'),
      'dom0+00_03.0 no-strict-reset=True persistent=yes\n',
    );
    const notRunning = await fails(fake, 'admin.vm.device.pci.Attach', 'dom0+00_05.0', 'vault', 'persistent=False');
    assert.equal(notRunning.type, 'QubesVMNotRunningError');
    await ok(fake, 'admin.vm.property.Set', 'virt_mode', 'vault', 'hvm');
    await ok(fake, 'admin.vm.device.pci.Attach', 'dom0+00_05.0', 'vault', 'persistent=True no-strict-reset=True');
    assert.equal(
      await ok(fake, 'admin.vm.device.pci.List', '', 'vault'),
      'dom0+00_05.0 no-strict-reset=True persistent=yes\n',
    );
    const again = await fails(fake, 'admin.vm.device.pci.Attach', 'dom0+00_05.0', 'vault', 'persistent=True');
    assert.equal(again.type, 'DeviceAlreadyAttached');
    await ok(fake, 'admin.vm.device.pci.Detach', 'dom0+00_05.0', 'vault');
    assert.equal(await ok(fake, 'admin.vm.device.pci.List', '', 'vault'), '');
    // and the 4.2 property set: no 4.3/4.4 properties
    assert.equal((await fails(fake, 'admin.vm.property.Get', 'bootmode', 'work')).type, 'QubesNoSuchPropertyError');
    assert.equal((await fails(fake, 'admin.property.Get', 'no_cpus', 'dom0')).type, 'QubesNoSuchPropertyError');
  });

  it('with the default (4.3) API has no 4.2 List method', async () => {
    const { fake } = await start();
    assert.equal((await fails(fake, 'admin.vm.device.pci.List', '', 'sys-net')).type, 'ProtocolError');
    assert.match(
      await ok(fake, 'admin.vm.device.pci.Assigned', '', 'sys-net'),
      /^dom0\+00_03\.0:0x1af4:0x1041::p020000 /,
    );
  });
});

describe('fake qubesd: faults and call log', () => {
  it('fails, drops and hangs the configured calls and logs every call', async () => {
    const { fake } = await start({ faults: { failOnCall: 2, dropOnCall: [3] } });
    await ok(fake, 'admin.vm.List', '', 'dom0');
    const failed = await fails(fake, 'admin.vm.property.Set', 'memory', 'work', '900');
    assert.deepEqual(failed, { type: 'QubesException', message: 'fake qubesd: injected failure' });
    assert.equal((await call(fake, 'admin.vm.property.Set', 'memory', 'work', '900')).code, 'empty');
    // neither faulted call changed anything
    assert.equal(await ok(fake, 'admin.vm.property.Get', 'memory', 'work'), 'default=False type=int 800');
    await ok(fake, 'admin.vm.property.Set', 'memory', 'work', '900');
    assert.deepEqual(
      fake.callLog.map((e) => [e.seq, e.method, e.arg, e.dest, e.payloadLength, e.outcome, e.writes]),
      [
        [1, 'admin.vm.List', '', 'dom0', 0, 'ok', false],
        [2, 'admin.vm.property.Set', 'memory', 'work', 3, 'fault-fail', true],
        [3, 'admin.vm.property.Set', 'memory', 'work', 3, 'fault-drop', true],
        [4, 'admin.vm.property.Get', 'memory', 'work', 0, 'ok', false],
        [5, 'admin.vm.property.Set', 'memory', 'work', 3, 'ok', true],
      ],
    );
    fake.setFaults({ hangOnCall: 6 });
    const hung = await new Promise<string>((res) => {
      const s = connect(fake.socketPath);
      let got = 0;
      s.on('connect', () => s.end(encodeRequest('admin.vm.List', '', 'dom0')));
      s.on('data', (d: Buffer) => (got += d.length));
      const timer = setTimeout(() => {
        s.destroy();
        res(got === 0 ? 'no reply after 300 ms' : 'answered');
      }, 300);
      s.on('close', () => {
        clearTimeout(timer);
        res('closed');
      });
    });
    assert.equal(hung, 'no reply after 300 ms');
    assert.equal(fake.callLog.at(-1)?.outcome, 'fault-hang');
  });
});

describe('fake qubesd: state as qubes.xml', () => {
  it('dumps a qubes.xml the product reader accepts, with the changes made', async () => {
    const { fake } = await start();
    await ok(fake, 'admin.vm.Create.AppVM', 'fedora-41', 'dom0', 'name=wq-dump label=green');
    await ok(fake, 'admin.vm.feature.Set', 'x-note', 'wq-dump', 'hi');
    const sys = parseQubesXml(fake.dumpQubesXml());
    const q = sys.qubes.find((x) => x.name === 'wq-dump');
    assert.ok(q !== undefined);
    assert.equal(q.klass, 'AppVM');
    assert.equal(q.properties.label, 'green');
    assert.equal(q.properties.template, 'fedora-41');
    assert.deepEqual(q.features, { 'x-note': 'hi' });
    assert.deepEqual(
      q.volumes?.map((v) => v.name),
      ['root', 'private', 'volatile', 'kernel'],
    );
  });
});

describe('fake qubesd: CLI entry', () => {
  it('prints its socket path and serves until SIGTERM', async () => {
    const root = mkdtempSync(join(tmpdir(), 'wq-fake-qubesd-cli-'));
    dirs.push(root);
    const sock = join(root, 'q.sock');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'test/fakes/qubesd/main.ts'),
        '--qubes-xml',
        SEED,
        '--pools-dir',
        join(root, 'pools'),
        '--socket',
        sock,
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const line = await new Promise<string>((res, rej) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) res(out.split('\n')[0] as string);
      });
      child.on('exit', (code) => rej(new Error(`exited ${code}`)));
    });
    assert.equal(line, `SOCKET ${sock}`);
    const reply = await new Promise<Buffer>((res) => {
      const chunks: Buffer[] = [];
      const s = connect(sock, () => s.end(encodeRequest('admin.label.Index', 'blue', 'dom0')));
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('close', () => res(Buffer.concat(chunks)));
    });
    assert.equal(reply.toString(), '0\u00006');
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(!readdirSync(dirname(sock)).includes('q.sock'), 'socket removed on exit');
  });
});

describe('fake qubesd: socket file', () => {
  it('replaces a stale socket file and refuses a socket in use', async () => {
    const first = await start();
    const path = first.fake.socketPath;
    await assert.rejects(
      startFakeQubesd({ qubesXml: SEED, poolsDir: first.root, socketPath: path }),
      /socket already in use/,
    );
    const root = mkdtempSync(join(tmpdir(), 'wq-fake-qubesd-stale-'));
    dirs.push(root);
    const stale = join(root, 'stale.sock');
    // what a crashed daemon leaves behind: a path nobody listens on
    closeSync(openSync(stale, 'w'));
    const second = await startFakeQubesd({ qubesXml: SEED, poolsDir: root, socketPath: stale });
    try {
      assert.equal(decode(await second.rawCall(encodeRequest('admin.label.Index', 'red', 'dom0'))).code, '0');
    } finally {
      await second.stop();
    }
  });
});

describe('fake qubesd: firewall', () => {
  it("stores rules in qubesd's order and writes firewall.xml as qubesd does (checked against the lab)", async () => {
    const { fake, root } = await start();
    assert.equal(await ok(fake, 'admin.vm.firewall.Get', '', 'work'), 'action=accept\n');
    await ok(
      fake,
      'admin.vm.firewall.Set',
      '',
      'work',
      'action=accept proto=tcp dst4=10.0.0.0/8 dstports=443 comment=web stuff\n' +
        'action=accept dsthost=example.com expire=4102444800\naction=drop\n',
    );
    const rules =
      'action=accept dst4=10.0.0.0/8 proto=tcp dstports=443-443 comment=web stuff\n' +
      'action=accept expire=4102444800 dsthost=example.com\naction=drop\n';
    assert.equal(await ok(fake, 'admin.vm.firewall.Get', '', 'work'), rules);
    const xml = readFileSync(join(root, 'var/lib/qubes/appvms/work/firewall.xml'), 'utf8');
    // what the real qubesd wrote for the same rules (qubesd lab, qubes-core-admin 4.4.0)
    const rule = (props: string[]): string =>
      `    <rule>\n      <properties>\n${props.map((p) => `        ${p}\n`).join('')}` +
      `      </properties>\n    </rule>\n`;
    assert.equal(
      xml,
      '<firewall version="2">\n  <rules>\n' +
        rule([
          '<property name="action">accept</property>',
          '<property name="comment">web stuff</property>',
          '<property name="dsthost">10.0.0.0/8</property>',
          '<property name="proto">tcp</property>',
          '<property name="dstports">443</property>',
        ]) +
        rule([
          '<property name="action">accept</property>',
          '<property name="expire">4102444800</property>',
          '<property name="dsthost">example.com</property>',
        ]) +
        rule(['<property name="action">drop</property>']) +
        '  </rules>\n</firewall>\n',
    );
    assert.deepEqual(parseFirewallXml(xml), rules.trimEnd().split('\n'));
    // a bad rule is a plain ValueError in qubesd: no reply, nothing changed
    assert.equal((await call(fake, 'admin.vm.firewall.Set', '', 'work', 'action=accept dstports=80\n')).code, 'empty');
    assert.equal(await ok(fake, 'admin.vm.firewall.Get', '', 'work'), rules);
  });
});

describe('fake qubesd: qubes.xml on disk', () => {
  it('saves its state to /var/lib/qubes/qubes.xml below the root after each change, like qubesd', async () => {
    const { fake, root } = await start();
    const path = join(root, 'var/lib/qubes/qubes.xml');
    assert.ok(parseQubesXml(readFileSync(path)).qubes.some((q) => q.name === 'work'));
    await ok(fake, 'admin.vm.property.Set', 'memory', 'work', '1234');
    const work = parseQubesXml(readFileSync(path)).qubes.find((q) => q.name === 'work');
    assert.equal(work?.properties.memory, '1234');
    assert.equal(readFileSync(path, 'utf8'), fake.dumpQubesXml());
  });
});
