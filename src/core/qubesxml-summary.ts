import { XMLParser } from 'fast-xml-parser';
import { WqError } from './errors.ts';
import { isValidQubeName } from './names.ts';

/**
 * Minimal read of an archived qubes.xml: domain names and classes only (list, verify).
 * Untrusted input: no DOCTYPE/entities, size cap, names validated.
 */
export function parseQubesXmlSummary(text: string): Array<{ name: string; klass: string }> {
  if (text.length > 32 * 1024 * 1024) throw new WqError('input', 'qubes.xml is larger than 32 MiB.');
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new WqError('input', 'qubes.xml contains a DOCTYPE/ENTITY declaration.');
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '@', processEntities: false, isArray: () => true });
  let doc: unknown;
  try {
    doc = parser.parse(text, true);
  } catch (err) {
    throw new WqError('input', `qubes.xml is not well-formed XML: ${(err as Error).message}`);
  }
  const out: Array<{ name: string; klass: string }> = [];
  const root = (doc as Record<string, unknown[]>).qubes?.[0] as Record<string, unknown[]> | undefined;
  const domains = (root?.domains?.[0] as Record<string, unknown[]> | undefined)?.domain ?? [];
  for (const d of domains as Array<Record<string, unknown>>) {
    const klass = String((d['@class'] as string[] | string | undefined) ?? '');
    const props = ((d.properties as Array<Record<string, unknown>> | undefined)?.[0]?.property ?? []) as Array<Record<string, unknown>>;
    const nameProp = props.find((p) => String(p['@name']) === 'name');
    const text = nameProp?.['#text'];
    const name = klass === 'AdminVM' ? 'dom0' : String((Array.isArray(text) ? text[0] : text) ?? '');
    if (!isValidQubeName(name) && name !== 'dom0') throw new WqError('input', `qubes.xml names an invalid qube '${name.slice(0, 40)}'.`);
    out.push({ name, klass });
  }
  return out;
}
