import { fileURLToPath } from 'node:url';

/**
 * Folder holding the template of a new embedded database folder: the bundle's own folder, where
 * the build writes it (`scripts/pglite-template.ts`). Run from the sources there is none, and a
 * new folder is made by initdb (with a warning).
 */
export const PGLITE_TEMPLATES = fileURLToPath(new URL('.', import.meta.url));
