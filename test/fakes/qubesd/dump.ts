// The fake's state as a Core3 qubes.xml, laid out like qubesd writes it (explicit properties
// only, in GetAll order; features in insertion order; devices with mode and identity).
import type { AppState, Qube } from './model.ts';
import { vmSpecs, globalSpecs, vmPropIsDefault } from './props.ts';
import { volumeSize, volumeVid } from './storage.ts';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function propertyLines(entries: Array<[string, string]>, indent: string): string[] {
  if (entries.length === 0) return [`${indent}<properties/>`];
  return [
    `${indent}<properties>`,
    ...entries.map(([k, v]) =>
      v === ''
        ? `${indent}  <property name="${esc(k)}"></property>`
        : `${indent}  <property name="${esc(k)}">${esc(v)}</property>`,
    ),
    `${indent}</properties>`,
  ];
}

function qubeProps(app: AppState, q: Qube): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const spec of vmSpecs(app, q)) {
    if (q.klass !== 'AdminVM') {
      if (spec.name === 'name') out.push(['name', q.name]);
      else if (spec.name === 'qid') out.push(['qid', String(q.qid)]);
      else if (spec.name === 'uuid') out.push(['uuid', q.uuid]);
    }
    if (spec.name === 'name' || spec.name === 'qid' || spec.name === 'uuid') continue;
    if (vmPropIsDefault(q, spec.name) || !spec.stored) continue;
    out.push([spec.name, q.props.get(spec.name) as string]);
  }
  return out;
}

export function dumpQubesXml(app: AppState): string {
  const lines: string[] = ['<qubes>', '  <labels>'];
  for (const l of app.labels)
    lines.push(`    <label id="label-${l.index}" color="${esc(l.color)}">${esc(l.name)}</label>`);
  lines.push('  </labels>', '  <pools>');
  for (const p of app.pools.values()) {
    const attrs = [`name="${esc(p.name)}"`];
    for (const [k, v] of p.config) attrs.push(`${esc(k)}="${esc(v)}"`);
    attrs.splice(Math.min(2, attrs.length), 0, `driver="${esc(p.driver)}"`);
    lines.push(`    <pool ${attrs.join(' ')}/>`);
  }
  lines.push('  </pools>');
  const globals: Array<[string, string]> = [];
  for (const spec of globalSpecs(app)) {
    const v = app.globals.get(spec.name);
    if (v !== undefined) globals.push([spec.name, v]);
  }
  lines.push(...propertyLines(globals, '  '), '  <domains>');
  // qubesd iterates its VMCollection: dom0 first, then by name
  const qubes = [...app.qubes.values()].sort((a, b) =>
    a.klass === 'AdminVM' ? -1 : b.klass === 'AdminVM' ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const q of qubes) {
    lines.push(`    <domain id="domain-${q.qid}" class="${q.klass}">`);
    lines.push(...propertyLines(qubeProps(app, q), '      '));
    if (q.features.size === 0) lines.push('      <features/>');
    else {
      lines.push('      <features>');
      for (const [k, v] of q.features)
        lines.push(
          v === ''
            ? `        <feature name="${esc(k)}"></feature>`
            : `        <feature name="${esc(k)}">${esc(v)}</feature>`,
        );
      lines.push('      </features>');
    }
    if (q.tags.size === 0) lines.push('      <tags/>');
    else {
      lines.push('      <tags>');
      for (const t of q.tags) lines.push(`        <tag name="${esc(t)}"/>`);
      lines.push('      </tags>');
    }
    for (const [devclass, list] of q.assigned) {
      if (list.length === 0) {
        lines.push(`      <devices class="${esc(devclass)}"/>`);
        continue;
      }
      lines.push(`      <devices class="${esc(devclass)}">`);
      for (const a of list) {
        // 4.2 keeps neither mode nor identity (as recorded in test/data/qubesd-r4.2)
        const head =
          `        <device backend-domain="${esc(a.backend)}" id="${esc(a.port)}"` +
          (app.api === '4.2' ? '' : ` mode="${a.mode}" identity="${esc(a.deviceId)}"`);
        if (a.options.length === 0) lines.push(`${head}/>`);
        else {
          lines.push(`${head}>`);
          for (const [k, v] of a.options) lines.push(`          <option name="${esc(k)}">${esc(v)}</option>`);
          lines.push('        </device>');
        }
      }
      lines.push('      </devices>');
    }
    if (q.volumes.size > 0) {
      lines.push('      <volume-config>');
      // 4.2 writes only the flags that are set (as recorded in test/data/qubesd-r4.2)
      const flag = (k: string, on: boolean): string[] =>
        on ? [`${k}="True"`] : app.api === '4.2' ? [] : [`${k}="False"`];
      for (const v of q.volumes.values()) {
        const attrs = [
          `name="${esc(v.name)}"`,
          `pool="${esc(v.pool)}"`,
          `vid="${esc(volumeVid(app, q, v))}"`,
          `revisions_to_keep="${v.revisionsToKeep}"`,
          ...flag('rw', v.rw),
          ...flag('save_on_stop', v.saveOnStop),
          ...flag('snap_on_start', v.snapOnStart),
        ];
        const size = volumeSize(app, v);
        if (size > 0) attrs.push(`size="${size}"`);
        if (v.source !== null) attrs.push(`source="${esc(v.source)}"`);
        if (v.ephemeral !== null) attrs.push(`ephemeral="${v.ephemeral ? 'True' : 'False'}"`);
        lines.push(`        <volume ${attrs.join(' ')}/>`);
      }
      lines.push('      </volume-config>');
    }
    lines.push('    </domain>');
  }
  lines.push('  </domains>', '</qubes>');
  return `${lines.join('\n')}\n`;
}
