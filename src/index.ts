/**
 * The typed library API of wyng-qubes. The CLI, the qrexec services and this library all run
 * the same use cases (src/app); each function here returns the same document that `--json`
 * prints (`{ ok, exitCode, command, result, errors }`). Unattended by default.
 */
import type { Envelope } from './core/envelope.ts';
import type { RpcOperation } from './core/profiles.ts';
import type { RemoteRequestInput } from './core/remote.ts';
import type { LibraryContext } from './app/library.ts';
import { callRemote } from './rpc/index.ts';

export {
  run,
  list,
  create,
  verify,
  prune,
  deleteQube,
  backup,
  restore,
  plan,
  type LibraryOptions,
  type LibraryContext,
} from './app/library.ts';
export { WqError, exitCodeFor, type ErrorKind, type ErrorRecord } from './core/errors.ts';
export type { Envelope } from './core/envelope.ts';
export type { CommonOptions, CommonOptionsInput, CommandName } from './core/options.ts';
export type { RpcOperation, RpcRequest, Profile } from './core/profiles.ts';
export type { RemoteRequestInput } from './core/remote.ts';

/**
 * From a management qube: calls the qrexec service `wyng.OPERATION+PROFILE` in dom0 and returns
 * its JSON document (or an error document for qrexec's own failures: 126/127/125).
 */
export async function remote(
  operation: RpcOperation,
  request: RemoteRequestInput & { profile: string },
  context: Pick<LibraryContext, 'env'> = {},
): Promise<Envelope> {
  const { profile, ...rest } = request;
  return callRemote(operation, profile, rest, context.env ?? process.env);
}
