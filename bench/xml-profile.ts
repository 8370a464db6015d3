/**
 * Where the time of a 1,000-domain qubes.xml parse goes: each phase of the reader measured
 * alone, in its own process (so garbage of one phase does not slow the next), as median CPU
 * time of 15 runs after 3 warm-ups. Phases: UTF-8 decoding, our one-pass well-formedness check
 * (with the depth and element limits, and the layout-whitespace cut; what parseSafeXml runs),
 * fast-xml-parser's own validator (what the reader ran before issue 17: not run any more, shown
 * for comparison), the parser (our options, on the text the check returns), parseSafeXml
 * (decoding, check, parser, XNode tree), and parseQubesXml (plus the settings reader).
 * Usage: node --import tsx bench/xml-profile.ts [phase …]
 */
import { spawnSync } from 'node:child_process';
import { XMLValidator } from 'fast-xml-parser';
import { generateQubesXml } from './gen-qubes-xml.ts';
import {
  checkWellFormed,
  DEFAULT_XML_LIMITS,
  decodeXmlBytes,
  makeParser,
  parseSafeXml,
} from '../src/core/qubesxml/safe-xml.ts';
import { parseQubesXml } from '../src/core/qubesxml/qubes-xml.ts';

const xml = Buffer.from(generateQubesXml(1000));
const text = decodeXmlBytes(xml, 'bench');
const layoutFree = checkWellFormed(text, 'bench', DEFAULT_XML_LIMITS);
const PHASES: Record<string, () => unknown> = {
  decode: () => decodeXmlBytes(xml, 'bench'),
  wellFormed: () => checkWellFormed(text, 'bench', DEFAULT_XML_LIMITS),
  'validator (unused)': () => XMLValidator.validate(text, { allowBooleanAttributes: false }),
  // the texts as parseSafeXml gives them: the skeleton and each third-level element apart
  parser: () => {
    const p = makeParser(DEFAULT_XML_LIMITS);
    return [p.parse(layoutFree.skeleton), ...layoutFree.chunks.map((c) => p.parse(c))];
  },
  parseSafeXml: () => parseSafeXml(xml, 'qubes', 'bench'),
  parseQubesXml: () => parseQubesXml(xml),
};

const asked = process.argv.slice(2);
if (asked.length === 0) {
  for (const phase of Object.keys(PHASES)) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, phase], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    process.stdout.write(r.stdout);
  }
} else {
  for (const phase of asked) {
    const f = PHASES[phase];
    if (f === undefined) throw new Error(`unknown phase ${phase}; known: ${Object.keys(PHASES).join(', ')}`);
    for (let i = 0; i < 3; i++) f();
    const ms: number[] = [];
    for (let i = 0; i < 15; i++) {
      const c0 = process.cpuUsage();
      f();
      const c = process.cpuUsage(c0);
      ms.push((c.user + c.system) / 1000);
    }
    ms.sort((a, b) => a - b);
    const median = (ms[7] as number).toFixed(1).padStart(6);
    console.log(`${phase.padEnd(18)} CPU median ${median} ms (min ${(ms[0] as number).toFixed(1)})`);
  }
}
