// Build step of the CLI, after tsup: the template of a new embedded database folder
// (`pglite-<version>.tar.gz`, PGlite's initdb output packed), written next to the bundle, where
// `po start` unpacks it into each new folder instead of running initdb (see @po/db's
// `makePgliteTemplate`). Made once per PGlite version into node_modules/.cache/po-pglite and
// copied from there by later builds: initdb takes seconds of CPU and its output depends on
// PGlite's version alone.
import { access, copyFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makePgliteTemplate, pgliteTemplatePath } from '@po/db';

const cli = fileURLToPath(new URL('..', import.meta.url));
const cache = join(cli, 'node_modules/.cache/po-pglite');
const cached = await pgliteTemplatePath(cache);
const made = await access(cached).then(
  () => false,
  async () => {
    await makePgliteTemplate(cache);
    return true;
  },
);
const shipped = join(cli, 'dist', basename(cached));
await copyFile(cached, shipped);
console.log(`[po] embedded database template ${made ? 'made' : 'reused from the cache'}: ${shipped}`);
