import { defineConfig } from 'tsup';
import { baseBuild } from '../../tsup.config.base.ts';

export default defineConfig({ ...baseBuild });
