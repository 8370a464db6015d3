/** The CLI's process: the app's I/O port (src/app/ports.ts). */
export type { AppIo as CliIo } from '../app/ports.ts';
