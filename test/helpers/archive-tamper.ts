// Tampering with a fake-Wyng archive behind dom0's back, through the fake's own storage layer
// (test/fakes/wyng-impl/archive.mjs): what a hostile storage qube could do to an archive it holds.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './cli.ts';

interface FakeSession {
  name: string;
  volsize: number;
}
interface FakeVolume {
  sessions: FakeSession[];
}
interface FakeArchive {
  chunksize: number;
  vol(name: string): FakeVolume | undefined;
  session(vol: FakeVolume, name: string): FakeSession | undefined;
  putChunk(buf: Buffer): string;
  writeManifest(vol: FakeVolume, name: string, lines: string[]): void;
  save(opts: { cache: boolean }): void;
}
interface FakeArchiveModule {
  Archive: { open(dir: string, spec: string): FakeArchive };
}

/**
 * Replaces the content of one volume in one existing session (same session name, same volume name):
 * e.g. a different `wyng-qubes-metadata` tarball in a session dom0 sent.
 */
export async function replaceSessionVolume(
  archiveUrl: string,
  volume: string,
  session: string,
  data: Buffer,
): Promise<void> {
  const modulePath = pathToFileURL(join(ROOT, 'test', 'fakes', 'wyng-impl', 'archive.mjs')).href;
  const { Archive } = (await import(modulePath)) as FakeArchiveModule;
  const dir = archiveUrl.replace(/^file:/, '');
  const archive = Archive.open(dir, archiveUrl);
  const vol = archive.vol(volume);
  const ses = vol && archive.session(vol, `S_${session}`);
  if (vol === undefined || ses === undefined) throw new Error(`no session ${session} of ${volume} in ${archiveUrl}`);
  const lines: string[] = [];
  for (let at = 0; at < data.length; at += archive.chunksize) {
    const chunk = data.subarray(at, Math.min(data.length, at + archive.chunksize));
    lines.push(chunk.every((b) => b === 0) ? '0' : archive.putChunk(chunk));
  }
  archive.writeManifest(vol, `S_${session}`, lines);
  ses.volsize = data.length;
  archive.save({ cache: false });
}
