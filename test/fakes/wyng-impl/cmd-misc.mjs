// `delete` and `arch-check`.
import { Exit, PyCrash, optionError } from './context.mjs';
import { isMdVol } from './archive.mjs';
import { receiveVolume } from './cmd-receive.mjs';

/** delete_volume(): `--force` needed for wyng-*metadata; local snapshots only removed with --local. */
export function deleteCommand(ctx, archive, opts, storage) {
  if (opts.clean || opts.purge) throw new Exit(1, 'Wyng test double: delete --clean/--purge is not implemented.');
  if (opts.volumes.length + (opts.vid ? 1 : 0) !== 1) throw new Exit(1, 'Specify one volume to delete.');
  if (!storage || !storage.online) {
    ctx.print('Note: A valid --local location was not specified; no volume snapshots will be removed.\n');
  }
  let vol;
  let dv = opts.volumes[0];
  if (opts.vid) {
    vol = archive.volumes.find((v) => v.vid === opts.vid);
    if (!vol || !opts.vid.startsWith('Vol_')) {
      ctx.errOut(`Vid '${opts.vid}' not found.`);
      throw new PyCrash(
        'UnboundLocalError',
        "cannot access local variable 'dvid' where it is not associated with a value",
        'delete_volume',
      );
    }
    dv = undefined;
  } else {
    vol = archive.vol(dv);
    if (!vol) throw new Exit(1, `Volume '${dv}' not found.`);
  }
  if (dv && isMdVol(vol.name) && !opts.force) throw optionError('Use --force to delete a metadata volume.');
  if (!opts.unattended && !opts.force) {
    ctx.print('\nWarning! Delete will remove ALL metadata AND archived data', `for volume '${dv ?? opts.vid}'`);
    const ans = ctx.ask('Are you sure? [y/N]: ');
    if (!['y', 'yes'].includes(ans.toLowerCase())) throw new Exit(0);
  }
  ctx.print(`\nDeleting volume '${dv ?? opts.vid}' from archive.`);
  archive.removeVolume(vol.name);
  archive.save({ metaDir: opts.metadir });
  archive.collectGarbage();
  if (storage && storage.online && dv) storage.removeSnapshot(dv, archive.uuid, vol.vid);
  else ctx.print('(Skipping snapshot removal.)');
}

/** arch_check(): metadata of every volume, then the data of the selected sessions. */
export async function archCheckCommand(ctx, archive, opts, selected) {
  if (opts.upgrade_format || opts.change_uuid)
    throw new Exit(1, 'Wyng test double: arch-check --upgrade-format/--change-uuid is not implemented.');
  for (const vol of archive.volumes) {
    archive.removeStrayDirs(vol);
    ctx.out(`${vol.vid}: OK\r`);
  }
  let volList = selected;
  if (opts.all)
    volList = archive
      .names()
      .filter((n) => !opts.volex.includes(n))
      .sort();
  const allSelected = volList.length > 0;
  let selses = opts.session;
  if (selses === 'newest') {
    const lasts = archive.volumes
      .map((v) => archive.last(v))
      .filter((x) => x !== undefined)
      .sort();
    selses = !allSelected && lasts.length ? lasts[lasts.length - 1].slice(2) : null;
  }
  if (selses && ctx.verbose) ctx.print(`Session ${selses} selected.`);
  if (!volList.length)
    volList = archive
      .names()
      .filter((n) => !opts.volex.includes(n))
      .sort();
  const newest = opts.session === 'newest';
  for (const vol of archive.volumes) {
    if (!volList.includes(vol.name)) continue;
    const names = archive.sesnames(vol);
    if (selses && !names.includes(`S_${selses}`) && !allSelected) continue;
    ctx.print(`\nVolume '${vol.name}'`);
    ctx.out('  Checking indexes,');
    for (const n of names) archive.manifest(vol, n);
    ctx.print(' data:');
    for (const sesname of [...names].reverse()) {
      if ((selses && `S_${selses}` !== sesname) || (newest && !selses && sesname !== names[names.length - 1])) continue;
      ctx.out(`  ${sesname.slice(2)} :`);
      if (archive.deltaEmpty(vol, sesname)) ctx.print(': OK');
      else if (
        !(await receiveVolume(ctx, archive, { online: false }, vol, {
          selectSes: sesname.slice(2),
          strict: true,
          verifyOnly: 2,
          faults: ctx.faults,
        }))
      ) {
        ctx.errorCache.push(vol.name);
      }
    }
  }
  archive.writeCache(opts.metadir);
}
