import { PromptInterrupted, WqError } from '../core/errors.ts';
import type { CliIo } from './io.ts';

/** The real process behind CliIo. */
export function nodeIo(): CliIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    // getters: process.stdin is opened only when asked about (`--help` never is)
    get stdinIsTTY() {
      return process.stdin.isTTY === true;
    },
    get stderrIsTTY() {
      return process.stderr.isTTY === true;
    },
    wyngStdin: 'inherit',
    env: process.env,
    // Ctrl-D (end of input) answers no; Ctrl-C rejects with PromptInterrupted (exit 8, `cancelled: true`)
    confirm: (question) =>
      // node:readline is loaded for a prompt only (cold start: most runs never ask)
      import('node:readline').then(
        ({ createInterface }) =>
          new Promise<boolean>((resolve, reject) => {
            const rl = createInterface({ input: process.stdin, output: process.stderr });
            let settled = false;
            const finish = (settle: () => void): void => {
              if (settled) return;
              settled = true;
              rl.close();
              settle();
            };
            rl.on('SIGINT', () => {
              process.stderr.write('\n');
              finish(() => reject(new PromptInterrupted()));
            });
            rl.on('close', () => {
              if (!settled) process.stderr.write('\n');
              finish(() => resolve(false));
            });
            rl.question(`${question} [y/N]: `, (answer) => finish(() => resolve(/^y(es)?$/i.test(answer.trim()))));
          }),
      ),
    readStdin: (limitBytes, timeoutMs) =>
      new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        const done = (err?: Error): void => {
          clearTimeout(timer);
          process.stdin.removeAllListeners('data');
          process.stdin.removeAllListeners('end');
          process.stdin.pause();
          if (err) reject(err);
          else resolve(Buffer.concat(chunks));
        };
        const timer = setTimeout(
          () => done(new WqError('input', `request not received within ${timeoutMs} ms`)),
          timeoutMs,
        );
        process.stdin.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > limitBytes) return done(new WqError('input', `request larger than ${limitBytes} bytes`));
          chunks.push(chunk);
        });
        process.stdin.on('end', () => done());
        process.stdin.on('error', (e) => done(e));
      }),
  };
}
