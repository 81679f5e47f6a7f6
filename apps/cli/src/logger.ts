import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Settings } from '@po/settings';
import pino from 'pino';
import pretty from 'pino-pretty';

/** The service's logger: pino (it has `fatal`, which the bins use for a failed start). */
export type ServiceLogger = pino.Logger;

/**
 * The service logger: JSON lines (pretty on a terminal, or when `log.pretty` says so), and,
 * with `log.dir`, a copy in one file per day (`po-YYYY-MM-DD.log`), as the predecessor kept under logs/.
 */
export function createLogger(
  settings: Settings,
  isTTY: boolean,
  options: {
    /**
     * The stream the lines go to: 1 (stdout, the service's default) or 2 (stderr: a command whose
     * stdout is its output, like `po replay --json`), or a stream of the caller's.
     */
    destination?: 1 | 2 | NodeJS.WritableStream;
  } = {},
): ServiceLogger {
  const destination = options.destination ?? 1;
  const usePretty = settings.log.pretty === 'true' || (settings.log.pretty === 'auto' && isTTY);
  const streams: pino.StreamEntry[] = [
    {
      stream: usePretty
        ? pretty({ colorize: isTTY, destination, sync: true })
        : typeof destination === 'number'
          ? pino.destination(destination)
          : destination,
    },
  ];
  if (settings.log.dir) streams.push({ stream: dailyFiles(settings.log.dir) });
  return pino(
    { level: settings.log.level, base: { service: 'po' } },
    pino.multistream(streams),
  ) as pino.Logger;
}

/** A stream that appends to `dir/po-<UTC date>.log`, opening the next file when the day changes. */
function dailyFiles(dir: string): Writable {
  mkdirSync(dir, { recursive: true });
  let day = '';
  let file: WriteStream | undefined;
  return new Writable({
    write(chunk, _encoding, done) {
      const today = new Date().toISOString().slice(0, 10);
      if (today !== day) {
        file?.end();
        day = today;
        file = createWriteStream(join(dir, `po-${today}.log`), { flags: 'a' });
      }
      file!.write(chunk, done);
    },
    final(done) {
      if (file) file.end(done);
      else done();
    },
  });
}
