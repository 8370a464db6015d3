// `remote` without --json prints the text the local command prints (issue 16 defect 16), not the
// raw JSON of the result. A stub qrexec-client-vm runs the real service with the bundle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUNDLE, runBundle } from '../helpers/cli.ts';
import { QREXEC_CLIENT_STUB, rpcSandboxOptions, SERVICES_DIR } from '../helpers/rpc.ts';
import { buildSandbox, type Sandbox } from '../helpers/sim.ts';

const PROFILES = (sb: Sandbox): string => `profiles:
  nightly:
    dest: ${sb.archiveUrl}
    qubes: [work, personal]
    remote:
      operations: [Backup, List, Status]
      callers: [mgmt]
`;

async function sandbox(): Promise<Sandbox> {
  const sb = await buildSandbox(rpcSandboxOptions(PROFILES));
  Object.assign(sb.env, {
    WYNG_QUBES_QREXEC_CLIENT: QREXEC_CLIENT_STUB,
    STUB_NODE: process.execPath,
    STUB_SERVICES_DIR: SERVICES_DIR,
    STUB_BUNDLE: BUNDLE,
  });
  return sb;
}

test('remote list prints what list prints, then the service line; no raw JSON', async () => {
  const sb = await sandbox();
  for (const qubes of [['work'], []]) {
    const local = await runBundle(['list', '--profile', 'nightly', ...qubes], { env: sb.env });
    assert.equal(local.code, 0, local.stderr);
    const remote = await runBundle(['remote', 'list', '--profile', 'nightly', ...qubes], { env: sb.env });
    assert.equal(remote.code, 0, remote.stderr);
    // the same text, except that dom0 withholds the archive URL from a remote caller
    const withheld = local.stdout.replace(/^URL .*$/m, 'URL (withheld by dom0)');
    assert.notEqual(withheld, local.stdout);
    assert.equal(remote.stdout, `${withheld}wyng.List+nightly: done.\n`);
    assert.doesNotMatch(remote.stdout, /^\s*[{}"]/m, 'no JSON');
  }
});

test('remote status prints a line per profile, not JSON', async () => {
  const sb = await sandbox();
  const remote = await runBundle(['remote', 'status', '--profile', 'nightly'], { env: sb.env });
  assert.equal(remote.code, 0, remote.stderr);
  assert.match(remote.stdout, /^No job running\.$/m);
  assert.doesNotMatch(remote.stdout, /^\s*[{}"]/m, 'no JSON');
});
