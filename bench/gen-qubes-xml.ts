/**
 * Generates a realistic Qubes 4.4 `qubes.xml` with N domains (dom0, a template, a network
 * qube, a firewall, a disposable template, and N-5 app qubes with properties, features,
 * tags, devices and volume config), for benchmarks and tests.
 */
const LABELS = ['red', 'orange', 'yellow', 'green', 'gray', 'blue', 'purple', 'black'];
const COLORS = ['0xcc0000', '0xf57900', '0xedd400', '0x73d216', '0x555555', '0x3465a4', '0x75507b', '0x000000'];

function volumes(name: string, dir: string, template: string | undefined): string {
  const root =
    template === undefined
      ? `<volume name="root" pool="varlibqubes" vid="${dir}/${name}/root" revisions_to_keep="1" ` +
        `rw="True" save_on_stop="True" snap_on_start="False" size="10737418240"/>`
      : `<volume name="root" pool="varlibqubes" vid="${dir}/${name}/root" revisions_to_keep="1" ` +
        `rw="True" save_on_stop="False" snap_on_start="True" size="10737418240" ` +
        `source="vm-templates/${template}/root"/>`;
  return (
    `      <volume-config>
        ${root}
        <volume name="private" pool="varlibqubes" vid="${dir}/${name}/private" ` +
    `revisions_to_keep="1" rw="True" save_on_stop="True" snap_on_start="False" size="2147483648"/>
        <volume name="volatile" pool="varlibqubes" vid="${dir}/${name}/volatile" ` +
    `revisions_to_keep="1" rw="True" save_on_stop="False" snap_on_start="False" size="10737418240"/>
        <volume name="kernel" pool="linux-kernel" vid="6.6.63-1.qubes.fc37.x86_64" ` +
    `revisions_to_keep="0" rw="False" save_on_stop="False" snap_on_start="False"/>
      </volume-config>\n`
  );
}

function domain(
  qid: number,
  klass: string,
  name: string,
  label: number,
  props: Record<string, string>,
  extra: { features?: Record<string, string>; tags?: string[]; devices?: string; template?: string },
): string {
  const p = Object.entries({
    label: LABELS[label % 8] as string,
    name,
    qid: String(qid),
    uuid: `00000000-0000-4000-8000-${String(qid).padStart(12, '0')}`,
    ...props,
  })
    .map(([k, v]) => `        <property name="${k}">${v}</property>`)
    .join('\n');
  const f = Object.entries(extra.features ?? {})
    .map(([k, v]) => `        <feature name="${k}">${v}</feature>`)
    .join('\n');
  const t = ['audiovm-dom0', 'created-by-dom0', 'guivm-dom0', ...(extra.tags ?? [])]
    .map((x) => `        <tag name="${x}"/>`)
    .join('\n');
  const dir = klass === 'TemplateVM' ? 'vm-templates' : 'appvms';
  return `    <domain id="domain-${qid}" class="${klass}">
      <properties>
${p}
      </properties>
      <features>
${f}
      </features>
      <tags>
${t}
      </tags>
      <devices class="pci">${extra.devices ?? ''}</devices>
      <devices class="block"/>
${volumes(name, dir, extra.template)}    </domain>\n`;
}

export function generateQubesXml(count: number): string {
  if (count < 5) throw new Error('at least 5 domains');
  const parts: string[] = [];
  parts.push(`<?xml version='1.0' encoding='UTF-8'?>\n<qubes>\n  <labels>\n`);
  LABELS.forEach((l, i) => parts.push(`    <label id="label-${i + 1}" color="${COLORS[i]}">${l}</label>\n`));
  parts.push(
    `  </labels>
  <pools>
    <pool name="varlibqubes" dir_path="/var/lib/qubes" driver="file-reflink" ` +
      `revisions_to_keep="1" ephemeral_volatile="False"/>
    <pool name="linux-kernel" dir_path="/var/lib/qubes/vm-kernels" driver="linux-kernel"/>
  </pools>
  <properties>
    <property name="clockvm">sys-net</property>
    <property name="default_dispvm">fedora-41-dvm</property>
    <property name="default_kernel">6.6.63-1.qubes.fc37.x86_64</property>
    <property name="default_netvm">sys-firewall</property>
    <property name="default_template">fedora-41</property>
    <property name="updatevm">sys-firewall</property>
  </properties>
  <domains>
    <domain id="domain-0" class="AdminVM">
      <properties>
        <property name="label">black</property>
      </properties>
      <features/>
      <tags/>
      <devices class="pci"/>
    </domain>\n`,
  );
  parts.push(
    domain(
      1,
      'TemplateVM',
      'fedora-41',
      7,
      {},
      {
        features: {
          os: 'Linux',
          'template-name': 'fedora-41',
          'default-menu-items': 'org.gnome.Nautilus.desktop xterm.desktop',
        },
      },
    ),
  );
  parts.push(
    domain(
      2,
      'AppVM',
      'sys-net',
      0,
      { memory: '425', provides_network: 'True', virt_mode: 'hvm', netvm: '', template: 'fedora-41' },
      {
        template: 'fedora-41',
        features: { servicevm: '1', 'service.clocksync': '1' },
        devices:
          `<device backend-domain="dom0" id="00_03.0" mode="required" ` +
          `identity="0x1af4:0x1041::p020000"><option name="no-strict-reset">True</option></device>`,
      },
    ),
  );
  parts.push(
    domain(
      3,
      'AppVM',
      'sys-firewall',
      3,
      { provides_network: 'True', netvm: 'sys-net', template: 'fedora-41' },
      { template: 'fedora-41', features: { servicevm: '1' } },
    ),
  );
  parts.push(
    domain(
      4,
      'AppVM',
      'fedora-41-dvm',
      0,
      { template_for_dispvms: 'True', template: 'fedora-41' },
      { template: 'fedora-41', features: { 'appmenus-dispvm': '1' } },
    ),
  );
  for (let qid = 5; qid < count; qid++) {
    const name = `app-${String(qid).padStart(5, '0')}`;
    const props: Record<string, string> = { template: 'fedora-41' };
    if (qid % 3 === 0) Object.assign(props, { memory: '800', maxmem: '8000', vcpus: '4' });
    if (qid % 5 === 0) Object.assign(props, { netvm: '', include_in_backups: 'False' });
    if (qid % 7 === 0) Object.assign(props, { default_dispvm: 'fedora-41-dvm', kernelopts: 'nopat apparmor=1' });
    parts.push(
      domain(qid, 'AppVM', name, qid, props, {
        template: 'fedora-41',
        features: {
          'menu-items': 'firefox.desktop org.gnome.Terminal.desktop',
          'backup-weekly': '1',
          ...(qid % 2 === 0 ? { 'service.cups': '' } : {}),
        },
        tags: qid % 4 === 0 ? ['project-x', 'backup-weekly'] : [],
      }),
    );
  }
  parts.push('  </domains>\n</qubes>\n');
  return parts.join('');
}
