// Qube life cycle with qubesd's checks: create (Create / CreateInPool), remove, and the power
// operations. Power changes are instant, like in the qubesd lab (design.md "Admin API contract"): Shutdown
// without `wait` returns with the qube already Halted.
import { randomInt, randomUUID } from 'node:crypto';
import { rmSync, mkdirSync } from 'node:fs';
import { drop, qerr } from './errors.ts';
import type { AppState, Qube } from './model.ts';
import {
  byQid,
  connectedVms,
  isHalted,
  isRunning,
  netvmOf,
  refOf,
  globalSpec,
  templateOf,
  vmProp,
  vmRepr,
  vmSpec,
} from './props.ts';
import { addTag, propDeps, syncAudiovmTag, syncGuivmTag, resetGlobalProperty, globalRef } from './mutate.ts';
import { pyRepr } from './py.ts';
import { createVolume, qubeDir, removeVolume, startVolumes, stopVolumes, verifyVolumes } from './storage.ts';
import { newQubeVolumes, type PoolChoice } from './volumes.ts';
import { emptyQube, pyId } from './seed.ts';
import { findExposed, deviceStr } from './devices.ts';

const MAX_QID = 10000;
const MAX_DISPID = 10000;

export interface CreateRequest {
  klass: Qube['klass'];
  name: string;
  label: string;
  /** the template qube (already resolved), undefined = class default */
  template?: Qube;
  choice: PoolChoice;
  source: string;
}

function newQid(app: AppState): number {
  const used = new Set([...app.qubes.values()].map((q) => q.qid));
  for (let i = 1; i < MAX_QID; i++) if (!used.has(i)) return i;
  throw drop('LookupError: Cannot find unused qid!');
}

function newDispid(app: AppState): number {
  const used = new Set([...app.qubes.values()].map((q) => Number(q.props.get('dispid') ?? '-1')));
  for (let i = 0; i < 100; i++) {
    const d = randomInt(MAX_DISPID);
    if (!used.has(d)) return d;
  }
  throw drop('LookupError: no free dispid');
}

/** app.add_new_vm(cls, name=…, label=…, template=…) + tags + create_on_disk */
export function createQube(app: AppState, req: CreateRequest): Qube {
  const qid = newQid(app);
  if (req.klass === 'AdminVM') {
    throw qerr('QubesPropertyValueError', "property 'qid' on AdminVM instance cannot be set");
  }
  let template = req.template;
  const needsTemplate = req.klass === 'AppVM' || req.klass === 'DispVM';
  if (needsTemplate && template === undefined) {
    template = globalRef(app, req.klass === 'DispVM' ? 'default_dispvm' : 'default_template');
    if (template === undefined) {
      throw qerr('QubesValueError', 'Template for the qube not specified, nor default template set.');
    }
  }
  if (req.klass === 'AppVM' && template !== undefined && template.klass !== 'TemplateVM') {
    throw qerr(
      'QubesPropertyValueError',
      `wrong VM class: domains[${vmRepr(app, template)}] is of type ${template.klass} and not TemplateVM`,
    );
  }
  if (req.klass === 'DispVM' && template !== undefined) {
    const ok =
      (template.klass === 'AppVM' || template.klass === 'StandaloneVM') &&
      vmProp(app, template, 'template_for_dispvms') === 'True';
    if (!ok) {
      throw qerr(
        'QubesValueError',
        `template for disposable (${template.name}) needs to be an AppVM with template_for_dispvms=True`,
      );
    }
  }
  const q = emptyQube(req.klass, req.name, qid, randomUUID());
  q.pyId = pyId(qid);
  if (req.klass === 'DispVM') q.props.set('dispid', String(newDispid(app)));
  q.props.set('label', req.label);
  if (template !== undefined) q.props.set('template', template.name);
  app.qubes.set(q.name, q);
  try {
    if (req.klass === 'DispVM' && template !== undefined) inheritFromDispvmTemplate(app, q, template);
    // domain-init: the gui and audio extensions tag the qube
    if (req.klass !== 'RemoteVM') {
      if (refOf(app, q, 'guivm') !== undefined && !q.tags.has(`guivm-${refOf(app, q, 'guivm')?.name}`))
        syncGuivmTag(app, q);
      if (refOf(app, q, 'audiovm') !== undefined && !q.tags.has(`audiovm-${refOf(app, q, 'audiovm')?.name}`))
        syncAudiovmTag(app, q);
    }
    addTag(app, q, `created-by-${req.source}`);
    if (req.klass !== 'RemoteVM') {
      q.volumes = newQubeVolumes(app, q, req.choice);
      mkdirSync(qubeDir(app, q), { recursive: true });
      for (const vol of q.volumes.values()) createVolume(app, vol);
    }
  } catch (e) {
    app.qubes.delete(q.name);
    throw e;
  }
  return q;
}

/** DispVM.__init__: clone the disposable template's explicit properties, features, tags, firewall */
function inheritFromDispvmTemplate(app: AppState, q: Qube, template: Qube): void {
  const noClone = new Set(['name', 'qid', 'uuid', 'dispid', 'template']);
  for (const [name, value] of template.props) {
    if (noClone.has(name) || q.props.has(name) || vmSpec(app, q, name) === undefined) continue;
    q.props.set(name, value);
  }
  for (const [k, v] of template.features) if (!k.startsWith('preload-dispvm')) q.features.set(k, v);
  for (const t of template.tags) q.tags.add(t);
  q.firewall = template.firewall === null ? null : [...template.firewall];
}

/** admin.vm.Remove */
export function removeQube(app: AppState, q: Qube): void {
  if (q.klass === 'AdminVM') throw qerr('QubesVMInUseError', "'dom0' cannot be removed");
  if (vmProp(app, q, 'installed_by_rpm') === 'True') {
    throw qerr('QubesVMInUseError', `VM installed by package manager: ${q.name}`);
  }
  if (!isHalted(q)) throw qerr('QubesVMNotHaltedError', `Domain is not powered off: ${pyRepr(q.name)}`);
  const deps = propDeps(app, q);
  if (deps.system.length > 0 || deps.qubes.length > 0) {
    throw qerr(
      'QubesVMInUseError',
      `Domain is in use: ${pyRepr(q.name)};  see 'journalctl -u qubesd -e' in dom0 for details`,
    );
  }
  const provided: string[] = [];
  for (const vm of byQid(app)) {
    if (vm === q || vm.klass === 'RemoteVM') continue;
    for (const list of vm.assigned.values()) for (const a of list) if (a.backend === q.name) provided.push(a.port);
  }
  if (provided.length > 0)
    throw qerr('QubesVMInUseError', `VM has devices assigned to other VMs: ${provided.join(', ')}`);
  app.qubes.delete(q.name);
  for (const name of ['default_guivm', 'default_netvm', 'clockvm', 'updatevm', 'default_template']) {
    const spec = globalSpec(app, name);
    if (spec !== undefined && app.globals.get(name) === q.name) resetGlobalProperty(app, spec);
  }
  for (const vol of q.volumes.values()) removeVolume(app, vol);
  rmSync(qubeDir(app, q), { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------
// power

/** libvirt's node device name of a PCI port id (`00_09.0` → `pci_0000_00_09_0`) */
function libvirtPciName(port: string): string {
  const last = port.split('-').pop() as string;
  const m = /^([0-9a-f]{2})_([0-9a-f]{2})\.([0-7])$/.exec(last);
  return m === null ? `pci_${port}` : `pci_0000_${m[1]}_${m[2]}_${m[3]}`;
}

export function startQube(app: AppState, q: Qube, chain = new Set<string>()): void {
  if (q.klass === 'AdminVM') throw qerr('QubesVMNotHaltedError', 'Cannot start Dom0 fake domain!');
  if (q.power !== 'Halted') return;
  if (app.offline) throw qerr('QubesException', 'VMM operations disabled in offline mode');
  if (q.klass === 'DispVM') {
    const t = templateOf(app, q);
    if (t === undefined || vmProp(app, t, 'template_for_dispvms') !== 'True') {
      throw qerr(
        'QubesException',
        `template for disposable (${t?.name ?? ''}) needs to have template_for_dispvms=True`,
      );
    }
  }
  const prohibit = q.features.get('prohibit-start');
  if (prohibit !== undefined && prohibit !== '') {
    throw qerr('QubesException', `Qube start is prohibited. Rationale: ${prohibit}`);
  }
  // domain-pre-start: the pci extension binds every assigned PCI device to pciback first
  for (const a of q.assigned.get('pci') ?? []) {
    if (a.backend === '*' || a.port === '*') continue;
    if (findExposed(app, 'pci', a.backend, a.port) === undefined) {
      throw qerr(
        'QubesException',
        `Start failed: Node device not found: no node device with matching name '${libvirtPciName(a.port)}', ` +
          'see /var/log/libvirt/libxl/libxl-driver.log for details',
      );
    }
  }
  for (const [devclass, list] of q.assigned) {
    for (const a of list) {
      if (a.mode !== 'required') continue;
      const dev = findExposed(app, devclass, a.backend, a.port);
      const matches = dev !== undefined && (a.deviceId === '*' || a.deviceId === dev.deviceId);
      if (!matches) {
        throw qerr(
          'QubesException',
          `${devclass.charAt(0).toUpperCase()}${devclass.slice(1)} device ${deviceStr(a)} not available`,
        );
      }
    }
  }
  verifyVolumes(app, q);
  const netvm = netvmOf(app, q);
  if (netvm !== undefined && netvm.klass !== 'AdminVM' && !isRunning(netvm) && !chain.has(netvm.name)) {
    chain.add(q.name);
    startQube(app, netvm, chain);
  }
  startVolumes(app, q);
  q.power = 'Running';
  q.xid = app.nextXid++;
}

function haltQube(app: AppState, q: Qube): void {
  stopVolumes(app, q);
  q.power = 'Halted';
  q.xid = -1;
  q.attached.clear();
  if (q.klass === 'DispVM' && vmProp(app, q, 'auto_cleanup') === 'True') {
    app.qubes.delete(q.name);
    for (const vol of q.volumes.values()) removeVolume(app, vol);
    rmSync(qubeDir(app, q), { recursive: true, force: true });
  }
}

export function shutdownQube(app: AppState, q: Qube, force: boolean): void {
  if (q.klass === 'AdminVM') throw drop('TypeError: AdminVM.shutdown() got an unexpected keyword argument');
  if (isHalted(q)) throw qerr('QubesVMNotStartedError', `Domain is powered off: ${pyRepr(q.name)}`);
  if (!force) {
    const users = vmProp(app, q, 'provides_network') === 'True' ? connectedVms(app, q).filter(isRunning) : [];
    if (users.length > 0) {
      throw qerr(
        'QubesVMInUseError',
        `There are other VMs connected to this VM: ${users.map((v) => v.name).join(', ')}`,
      );
    }
    const guiUsers = byQid(app).filter(
      (vm) => vm !== q && vm.klass !== 'AdminVM' && isRunning(vm) && refOf(app, vm, 'guivm') === q,
    );
    if (guiUsers.length > 0) {
      throw qerr(
        'QubesVMError',
        `There are running VMs using this VM as GuiVM: ${guiUsers.map((v) => v.name).join(', ')}`,
      );
    }
    const audioUsers = byQid(app).filter(
      (vm) => vm !== q && vm.klass !== 'AdminVM' && isRunning(vm) && refOf(app, vm, 'audiovm') === q,
    );
    if (audioUsers.length > 0) {
      throw qerr(
        'QubesVMInUseError',
        `There are running VMs using this VM as AudioVM: ${audioUsers.map((v) => v.name).join(', ')}`,
      );
    }
    if (q.power === 'Paused')
      throw qerr('QubesVMNotRunningError', `Domain not running (either powered off or paused): ${pyRepr(q.name)}`);
  }
  haltQube(app, q);
}

export function killQube(app: AppState, q: Qube): void {
  if (q.klass === 'AdminVM') throw qerr('QubesVMError', 'Cannot kill Dom0 fake domain!');
  if (isHalted(q)) throw qerr('QubesVMNotStartedError', `Domain is powered off: ${pyRepr(q.name)}`);
  haltQube(app, q);
}

export function pauseQube(q: Qube): void {
  if (q.klass === 'AdminVM') throw drop("AttributeError: 'AdminVM' object has no attribute 'pause'");
  if (!isRunning(q))
    throw qerr('QubesVMNotRunningError', `Domain not running (either powered off or paused): ${pyRepr(q.name)}`);
  q.power = 'Paused';
}

export function unpauseQube(q: Qube): void {
  if (q.klass === 'AdminVM') throw drop("AttributeError: 'AdminVM' object has no attribute 'unpause'");
  if (q.power !== 'Paused') throw qerr('QubesVMNotPausedError', `Domain is not paused: ${pyRepr(q.name)}`);
  q.power = 'Running';
}
