// Runs the built bundle on a real pseudo-terminal (python3's pty module), so that prompts, Ctrl-C and
// Ctrl-D behave as for a user at a terminal: waits for a text on the terminal, then types the keys.
import { spawn } from 'node:child_process';
import { BUNDLE, ROOT } from './cli.ts';

const DRIVER = `
import json, os, pty, select, sys, time
argv, wait_for, keys = json.loads(sys.argv[1]), sys.argv[2].encode(), bytes.fromhex(sys.argv[3])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out, sent, deadline = b'', False, time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 1)
    if not r:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    if not sent and wait_for in out:
        time.sleep(0.3)
        os.write(fd, keys)
        sent = True
_, status = os.waitpid(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
sys.stdout.write(json.dumps({"code": code, "sent": sent, "out": out.decode("utf-8", "replace")}))
`;

export interface PtyRun {
  code: number;
  /** the keys were typed (the awaited text appeared) */
  sent: boolean;
  /** everything the terminal showed (stdout and stderr, CR LF line ends) */
  out: string;
  /** the --json document, when one line of the output is one */
  json?: { ok: boolean; exitCode: number; result: unknown; errors: Array<{ kind: string; message: string }> };
}

/** Runs `node dist/wyng-qubes.mjs ARGS` on a terminal; when `waitFor` appears, types `keys`. */
export function runOnPty(args: string[], env: Record<string, string | undefined>, waitFor: string, keys: string) {
  return new Promise<PtyRun>((resolve, reject) => {
    const argv = JSON.stringify([process.execPath, BUNDLE, ...args]);
    const child = spawn('python3', ['-c', DRIVER, argv, waitFor, Buffer.from(keys).toString('hex')], {
      env,
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', () => {
      try {
        const r = JSON.parse(stdout) as PtyRun;
        const line = r.out.split(/\r?\n/).find((l) => l.startsWith('{') && l.includes('"exitCode"'));
        resolve(line !== undefined ? { ...r, json: JSON.parse(line) as PtyRun['json'] } : r);
      } catch (err) {
        reject(new Error(`pty driver failed: ${(err as Error).message}\n${stdout}\n${stderr}`));
      }
    });
  });
}
