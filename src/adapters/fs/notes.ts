import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { WqError } from '../../core/errors.ts';
import type { QubeClass } from '../../core/qubes/model.ts';
import { qubeDirOf } from '../../core/restore/archived.ts';
import { writeFileAtomic } from './atomic.ts';

/** A qube's notes.txt, which qubesd keeps in the qube's directory under the Qubes dir. */
export function notesPath(qubesDir: string, qube: string, klass: QubeClass): string {
  return join(qubesDir, qubeDirOf(qube, klass), 'notes.txt');
}

/** The qube's notes; '' when it has none (or they cannot be read). */
export function readNotes(qubesDir: string, qube: string, klass: QubeClass): string {
  try {
    return readFileSync(notesPath(qubesDir, qube, klass), 'utf8');
  } catch {
    return '';
  }
}

/** Replaces the qube's notes.txt atomically. */
export function writeNotes(qubesDir: string, qube: string, klass: QubeClass, text: string): void {
  const path = notesPath(qubesDir, qube, klass);
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o775 });
    writeFileAtomic(path, text, { mode: 0o664 });
  } catch (err) {
    throw new WqError('internal', `Could not write ${path}: ${(err as Error).message}`, { qube });
  }
}
