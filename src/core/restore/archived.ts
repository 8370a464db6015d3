// From the files of a session's metadata tar (already read safely) to the restore's target:
// the archived system (qubes.xml) with each qube's firewall rules (firewall.xml) and notes
// (notes.txt) from the qube's directory. Pure; every problem is a WqError('input').
import { WqError } from '../errors.ts';
import type { ArchivedSystem, QubeClass } from '../qubes/model.ts';
import { parseFirewallXml } from '../qubesxml/firewall-xml.ts';
import { parseQubesXml } from '../qubesxml/qubes-xml.ts';
import { hasUnsafeText } from '../terminal.ts';

export interface ArchivedRestoreSource {
  system: ArchivedSystem;
  notes: Record<string, string>;
}

/** The directory of a qube below the Qubes dir, as qubesd lays it out. */
export function qubeDirOf(name: string, klass: QubeClass): string {
  return klass === 'TemplateVM' ? `vm-templates/${name}` : `appvms/${name}`;
}

/** notes.txt is shown to the user: printable text, tabs and newlines only, bounded. */
const MAX_NOTES_BYTES = 256000;

export function readArchivedSource(files: ReadonlyMap<string, Buffer>, session: string): ArchivedRestoreSource {
  const xml = files.get('qubes.xml');
  if (xml === undefined) throw new WqError('input', `The metadata of session ${session} holds no qubes.xml.`);
  const parsed = parseQubesXml(xml, { source: `qubes.xml of session ${session}` });
  const notes: Record<string, string> = {};
  const qubes = parsed.qubes.map((q) => {
    const dir = qubeDirOf(q.name, q.klass);
    const fw = files.get(`${dir}/firewall.xml`);
    const firewall =
      fw === undefined ? [] : parseFirewallXml(fw, { source: `${dir}/firewall.xml of session ${session}` });
    const note = files.get(`${dir}/notes.txt`);
    if (note !== undefined) {
      if (note.length > MAX_NOTES_BYTES)
        throw new WqError(
          'input',
          `Refusing ${dir}/notes.txt of session ${session}: larger than ${MAX_NOTES_BYTES} bytes.`,
        );
      let text: string;
      try {
        text = new TextDecoder('utf-8', { fatal: true }).decode(note);
      } catch {
        throw new WqError('input', `Refusing ${dir}/notes.txt of session ${session}: not UTF-8 text.`);
      }
      if (hasUnsafeText(text.replaceAll('\r\n', '\n')))
        throw new WqError(
          'input',
          `Refusing ${dir}/notes.txt of session ${session}: control characters (printable text, tabs, line ends only).`,
        );
      notes[q.name] = text;
    }
    return { ...q, firewall };
  });
  return { system: { ...parsed, qubes }, notes };
}

/**
 * The restore target as a Qubes 4.2 qubesd can hold it: its device API (`Attach` with
 * `persistent=True`, listed by `List`) keeps backend, port and options but no device identity
 * and no mode, so an archived assignment becomes "the device in that port, attached at start"
 * — what reading the assignment back gives. Without this, a backup made on 4.3+ could never
 * verify after a restore onto 4.2. Also returns the qubes whose assignments lost their identity
 * or mode (for the plan's warnings).
 */
export function projectForDeviceApi(
  source: ArchivedRestoreSource,
  api: '4.2' | '4.3',
): { source: ArchivedRestoreSource; widened: Set<string> } {
  const widened = new Set<string>();
  if (api === '4.3') return { source, widened };
  const qubes = source.system.qubes.map((q) => ({
    ...q,
    devices: q.devices.map((d) => {
      if (d.deviceId !== '*' || d.mode !== 'required') widened.add(q.name);
      return { ...d, deviceId: '*', mode: 'required' as const };
    }),
  }));
  return { source: { ...source, system: { ...source.system, qubes } }, widened };
}
