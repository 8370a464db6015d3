// Where the recorded data the tests replay lives: test/data (see test/data/README.md for where
// each set came from and scripts/refresh-test-data.sh to refresh it). Loaders take a recording
// directory as a parameter, so a second recording set (e.g. another qubesd release) can be
// replayed beside the default one.
import { join } from 'node:path';

export const TEST_DATA = join(import.meta.dirname, '..', 'data');
/** Wyng 0.8 rc4, recorded in the Wyng lab: `transcripts/*.json`, `transcripts/index.json` */
export const WYNG_RECORDING = join(TEST_DATA, 'wyng');
/** qubes-core-admin 4.4.0 qubesd, recorded in the qubesd lab: transcripts, qubes.xml before/after */
export const QUBESD_RECORDING = join(TEST_DATA, 'qubesd');
/** qubes.xml / firewall.xml files in the Qubes 4 format */
export const QUBES_XML_FIXTURES = join(TEST_DATA, 'fixtures', 'qubes-xml');

/** the transcripts folder of a Wyng recording set */
export const wyngTranscriptsDir = (recording: string = WYNG_RECORDING): string => join(recording, 'transcripts');
/** the transcripts folder of a qubesd recording set */
export const qubesdTranscriptsDir = (recording: string = QUBESD_RECORDING): string => join(recording, 'transcripts');
