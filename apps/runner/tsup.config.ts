import { defineConfig } from 'tsup';
import { baseBuild } from '../../tsup.config.base.ts';

// Two entries: the library (createRunner, seedDemo) and the app (src/index.ts starts it).
export default defineConfig({ ...baseBuild, entry: ['src/lib.ts', 'src/index.ts'] });
