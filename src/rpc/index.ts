/** The public entry of the qrexec side: the dom0 services and the management qube's client. */
export { serveEntry, servePrivileged } from './service.ts';
export { callRemote } from './client.ts';
