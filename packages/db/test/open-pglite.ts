// Opens an embedded database in a separate process (lock tests) and reports what happened.
import { openDatabase } from '../src/index.ts';

try {
  const db = await openDatabase({ dataDir: process.argv[2]! });
  console.log('opened');
  await db.close();
} catch (e) {
  console.log(`${(e as { code?: string }).code} ${(e as Error).message}`);
}
