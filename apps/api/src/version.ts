import pkg from '../package.json' with { type: 'json' };

/** The version of this package, reported by `/health` and the OpenAPI document. */
export const API_VERSION: string = pkg.version;
