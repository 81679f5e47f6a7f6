// Loads the TypeScript worker when the pool runs from sources (tests, tsx); the build
// ships dist/worker.js instead and does not need this file.
import { tsImport } from 'tsx/esm/api';

const worker = await tsImport('./worker.ts', import.meta.url);

export default worker.default;
