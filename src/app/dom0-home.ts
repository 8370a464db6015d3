// dom0's home in a session (issue 19 §2): the backup side builds its tar for the one send; the
// restore side receives it into the job's temp dir and extracts it safely into
// ~USER/home-restore-SESSION (never over the live home). Rules: core/dom0-home.ts.
import { existsSync, lstatSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildHomeTar } from '../adapters/home/build.ts';
import { extractHomeTar } from '../adapters/home/extract.ts';
import { wyngArgv } from '../adapters/wyng/argv.ts';
import { requireQubesSessions } from '../core/archive.ts';
import {
  checkExclude,
  DEFAULT_HOME_EXCLUDES,
  DOM0_HOME_VOLUME,
  dom0User,
  homeRestoreDirName,
  qubesGroupMember,
} from '../core/dom0-home.ts';
import { WqError } from '../core/errors.ts';
import { selectSession } from '../core/selection.ts';
import type { Job } from './job.ts';
import type { AppContext, UseCaseOutcome } from './ports.ts';

/** The user's home directory, which must be a real directory (not a link). */
function homeOf(ctx: AppContext): { user: string; home: string } {
  let groups = '';
  try {
    groups = readFileSync(ctx.config.groupFile, 'utf8');
  } catch {
    // no group database: only --dom0-user and SUDO_USER can say whose home
  }
  const user = dom0User(ctx.options.dom0User, ctx.io.env.SUDO_USER, qubesGroupMember(groups));
  const home = join(ctx.config.homeRoot, user);
  const st = lstatSync(home, { throwIfNoEntry: false });
  if (st === undefined || !st.isDirectory())
    throw new WqError('config', `The home of dom0 user '${user}' (${home}) is not a directory.`);
  return { user, home };
}

export interface HomeImport {
  user: string;
  volume: string;
  tarPath: string;
  entries: number;
}

/** backup --dom0-home: the home's tar in the job's temp dir, ready to be imported by the send. */
export async function prepareHomeImport(ctx: AppContext, tmpDir: string): Promise<HomeImport | undefined> {
  if (!ctx.options.dom0Home) return undefined;
  const { user, home } = homeOf(ctx);
  const configured = ctx.options.dom0HomeExclude.map(checkExclude);
  const excludes = configured.length > 0 ? configured : [...DEFAULT_HOME_EXCLUDES];
  const tarPath = join(tmpDir, 'dom0-home.tgz');
  const entries = await buildHomeTar(home, tarPath, excludes);
  ctx.say(`dom0 home of ${user}: ${entries} entries (without ${excludes.join(', ')}).`);
  return { user, volume: DOM0_HOME_VOLUME, tarPath, entries };
}

/** restore --dom0-home [--session S]: the session's home tar extracted into ~USER/home-restore-S. */
export async function restoreDom0Home(ctx: AppContext, job: Job): Promise<UseCaseOutcome> {
  if (ctx.args.length > 0)
    throw new WqError(
      'option',
      '--dom0-home restores the dom0 home only: name no qubes (restore them in another run).',
    );
  const { user, home } = homeOf(ctx);
  const { model } = await job.wyng.list();
  requireQubesSessions(model);
  const withHome = model.volumeSessions[DOM0_HOME_VOLUME] ?? [];
  const session =
    ctx.options.session !== undefined ? selectSession(model, [], ctx.options.session, 'restore') : withHome.at(-1);
  if (session === undefined || !withHome.includes(session))
    throw new WqError('selection', `No dom0 home in ${session !== undefined ? `session ${session}` : 'the archive'}.`);
  const dest = join(home, homeRestoreDirName(session));
  if (existsSync(dest)) throw new WqError('selection', `${dest} exists already: move it away first.`);
  const tarPath = join(job.tmpDir, 'dom0-home.tgz');
  rmSync(tarPath, { force: true });
  await job.wyng.check(
    wyngArgv.receiveImport(job.wyng.globals, { saveTo: tarPath, session, volume: DOM0_HOME_VOLUME }),
    {
      what: `receive of the dom0 home of session ${session}`,
    },
  );
  const st = lstatSync(tarPath, { throwIfNoEntry: false });
  if (st === undefined || !st.isFile())
    throw new WqError('wyng', `Wyng did not save the dom0 home of session ${session}.`, { wyngCode: 1 });
  const owner = lstatSync(home);
  try {
    const r = await extractHomeTar(tarPath, dest, { uid: owner.uid, gid: owner.gid });
    ctx.say(`dom0 home of ${user} from session ${session}: ${r.files} file(s) in ${dest}.`);
    return { exitCode: 0, result: { session, user, directory: dest, files: r.files, bytes: r.bytes }, errors: [] };
  } finally {
    rmSync(tarPath, { force: true });
  }
}
