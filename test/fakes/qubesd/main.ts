// Runs a fake qubesd until SIGINT/SIGTERM and prints its socket path (for the demo):
//   node --import tsx test/fakes/qubesd/main.ts --qubes-xml FILE --pools-dir DIR
//        [--socket PATH] [--api 4.3|4.2] [--running q1,q2] [--report-seed-paths]
//        [--volume-file-size BYTES|declared]
// Prints `SOCKET <path>` on stdout once listening; the call log goes to stderr with --log.
import { mkdirSync } from 'node:fs';
import { startFakeQubesd, type FakeQubesdOptions } from './server.ts';

function usage(message: string): never {
  process.stderr.write(
    `fake qubesd: ${message}\nusage: main.ts --qubes-xml FILE --pools-dir DIR [--socket PATH] [--api 4.3|4.2] ` +
      '[--running q1,q2] [--report-seed-paths] [--volume-file-size BYTES|declared] [--log]\n',
  );
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const opts: Partial<FakeQubesdOptions> = {};
  let log = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    switch (a) {
      case '--qubes-xml':
        opts.qubesXml = next();
        break;
      case '--pools-dir':
        opts.poolsDir = next();
        break;
      case '--socket':
        opts.socketPath = next();
        break;
      case '--api': {
        const v = next();
        if (v !== '4.3' && v !== '4.2') usage('--api must be 4.3 or 4.2');
        opts.api = v;
        break;
      }
      case '--running':
        opts.running = next()
          .split(',')
          .filter((s) => s !== '');
        break;
      case '--report-seed-paths':
        opts.reportSeedPaths = true;
        break;
      case '--volume-file-size': {
        const v = next();
        if (v === 'declared') opts.volumeFileSize = 'declared';
        else if (/^[0-9]+$/.test(v)) opts.volumeFileSize = Number(v);
        else usage('--volume-file-size must be a number of bytes or "declared"');
        break;
      }
      case '--log':
        log = true;
        break;
      default:
        usage(`unknown option ${a}`);
    }
  }
  if (opts.qubesXml === undefined || opts.poolsDir === undefined) usage('--qubes-xml and --pools-dir are required');
  mkdirSync(opts.poolsDir, { recursive: true });
  const fake = await startFakeQubesd(opts as FakeQubesdOptions);
  process.stdout.write(`SOCKET ${fake.socketPath}\n`);
  let printed = 0;
  const timer = log
    ? setInterval(() => {
        for (; printed < fake.callLog.length; printed++) {
          const e = fake.callLog[printed];
          if (e !== undefined)
            process.stderr.write(
              `${e.seq} ${e.method}+${e.arg} ${e.src}→${e.dest} ` +
                `${e.outcome}${e.excType !== undefined ? ` ${e.excType}` : ''}\n`,
            );
        }
      }, 100)
    : undefined;
  const stop = (): void => {
    if (timer !== undefined) clearInterval(timer);
    void fake.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`fake qubesd: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
