import { WqError } from './errors.ts';
import { parseQubesXml } from './qubesxml/qubes-xml.ts';

/** What list/verify need from a session's archived qubes.xml: each qube's name and class. */
export interface ArchivedDomain {
  name: string;
  klass: string;
}

export function archivedDomains(files: ReadonlyMap<string, Buffer>): ArchivedDomain[] {
  const xml = files.get('qubes.xml');
  if (xml === undefined) throw new WqError('input', 'Backup metadata contains no qubes.xml.');
  return parseQubesXml(xml, { source: 'qubes.xml of the backup metadata' }).qubes.map((q) => ({
    name: q.name,
    klass: q.klass,
  }));
}
