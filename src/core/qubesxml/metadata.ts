// A backup session's metadata (the files of its metadata tar, already read safely by
// src/adapters/metadata/safe-tar.ts) → ArchivedSystem with each qube's firewall rules.
import { WqError } from '../errors.ts';
import type { ArchivedSystem, QubeClass } from '../qubes/model.ts';
import { parseFirewallXml } from './firewall-xml.ts';
import { parseQubesXml } from './qubes-xml.ts';

/** The qube's directory below /var/lib/qubes, as qubesd names it (templates apart). */
export function qubeDirectory(name: string, klass: QubeClass): string | undefined {
  if (klass === 'AdminVM' || klass === 'RemoteVM') return undefined;
  return `${klass === 'TemplateVM' ? 'vm-templates' : 'appvms'}/${name}`;
}

/**
 * Parses `qubes.xml` of the metadata files and attaches each qube's `firewall.xml`:
 * rules when the file is there, [] when it is not (qubesd's default: accept everything).
 */
export function readArchivedMetadata(
  files: ReadonlyMap<string, Uint8Array>,
  options: { now?: number } = {},
): ArchivedSystem {
  const xml = files.get('qubes.xml');
  if (xml === undefined) throw new WqError('input', 'Backup metadata contains no qubes.xml.');
  const system = parseQubesXml(xml, { source: 'qubes.xml of the backup metadata' });
  for (const qube of system.qubes) {
    const dir = qubeDirectory(qube.name, qube.klass);
    if (dir === undefined) continue;
    const path = `${dir}/firewall.xml`;
    const fw = files.get(path);
    qube.firewall =
      fw === undefined
        ? []
        : parseFirewallXml(fw, {
            source: `${path} of the backup metadata`,
            ...(options.now === undefined ? {} : { now: options.now }),
          });
  }
  return system;
}
