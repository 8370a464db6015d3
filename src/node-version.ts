/**
 * The Node.js floor of wyng-qubes (dom0 of Qubes R4.2 has Fedora 37's Node 18; 18.19 is the
 * oldest release the bundle is built and tested for). Same figure as package.json "engines"
 * and the RPM's `Requires: nodejs >= 1:18.19`.
 */
export const NODE_FLOOR = '18.19.0';

function parts(version: string): [number, number, number] | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  return m === null ? undefined : [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Why this Node.js cannot run wyng-qubes, naming both versions; undefined when it can. */
export function nodeVersionProblem(version: string, floor: string = NODE_FLOOR): string | undefined {
  const have = parts(version);
  const need = parts(floor);
  if (need === undefined) throw new Error(`bad Node.js floor ${floor}`);
  const tooOld =
    have === undefined ||
    have[0] < need[0] ||
    (have[0] === need[0] && (have[1] < need[1] || (have[1] === need[1] && have[2] < need[2])));
  return tooOld ? `Node.js ${floor} or newer required; this is Node.js ${version}.` : undefined;
}
