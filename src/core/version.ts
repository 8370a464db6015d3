declare const __WYNG_QUBES_VERSION__: string | undefined;

/** Set by the bundler from package.json; "dev" when run from source. */
export const VERSION: string = typeof __WYNG_QUBES_VERSION__ === 'string' ? __WYNG_QUBES_VERSION__ : 'dev';
