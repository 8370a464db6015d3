import { createInterface } from 'node:readline';
import { WqError } from '../core/errors.ts';
import type { CliIo } from './io.ts';

/** The real process behind CliIo. */
export function nodeIo(): CliIo {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    stdinIsTTY: process.stdin.isTTY === true,
    wyngStdin: 'inherit',
    env: process.env,
    confirm: async (question) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        const answer = await new Promise<string>((resolve) => rl.question(`${question} [y/N]: `, resolve));
        return /^y(es)?$/i.test(answer.trim());
      } finally {
        rl.close();
      }
    },
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
