/**
 * `po start` on the embedded demo with the three role tokens, and Debian's Chromium driven by
 * playwright-core (no browser is downloaded: the executable is the system's `chromium`).
 * Shared by the dashboard's end-to-end test and `pnpm screenshots`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { po, root } from './po.ts';

export const TOKENS = {
  viewer: 'viewer-token-0123456789',
  operator: 'operator-token-0123456789',
  engineer: 'engineer-token-0123456789',
} as const;
export type RoleName = keyof typeof TOKENS;

/** The system Chromium (`.ci/run` installs Debian's package when it is missing). */
export function chromiumPath(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    throw new Error(
      "no chromium on PATH: install Debian's package (apt-get install -y chromium), as .ci/run does",
    );
  }
}

export interface Demo {
  url: string;
  browser: Browser;
  log(): string;
  /** A browser context signed in with a role's token through the login form. */
  signIn(role: RoleName): Promise<{ context: BrowserContext; page: Page }>;
  /** A JSON API call with a role's bearer token. */
  api(role: RoleName, path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

async function until<T>(
  what: string,
  fn: () => T | undefined | Promise<T | undefined>,
  log: () => string,
  ms = 240_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; log:\n${log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Seeds a temporary folder with the demo strategy (1.0.0 deployed, 1.1.0 uploaded), starts `po start` and Chromium. */
export async function startDemo(options: { cycleIntervalS?: number } = {}): Promise<Demo> {
  const demo = join(root, 'config/demo');
  const dir = mkdtempSync(join(tmpdir(), 'po-dashboard-'));
  const run = async (args: string[]) => {
    const r = await po(args, { cwd: dir });
    if (r.code !== 0) throw new Error(`po ${args.join(' ')} failed: ${r.stderr}`);
  };
  await run(['upload-models', '--data-dir', join(demo, 'models')]);
  await run(['upload-config', '--config', join(demo, 'strategy.yaml'), '--version', '1.0.0']);
  await run(['upload-config', '--config', join(demo, 'strategy.yaml'), '--version', '1.1.0']);
  await run(['deploy', '1.0.0']);
  let log = '';
  const child: ChildProcess = spawn(process.execPath, [join(root, 'apps/cli/dist/bin.js'), 'start'], {
    cwd: dir,
    env: {
      ...process.env,
      PO_CYCLE_INTERVAL_S: String(options.cycleIntervalS ?? 1),
      PO_PORT: '0',
      PO_LOG_PRETTY: 'false',
      PO_THREADS: '1',
      PO_VIEWER_TOKEN: TOKENS.viewer,
      PO_OPERATOR_TOKEN: TOKENS.operator,
      PO_ENGINEER_TOKEN: TOKENS.engineer,
    },
  });
  child.stdout!.on('data', (b: Buffer) => {
    log += b.toString();
  });
  child.stderr!.on('data', (b: Buffer) => {
    log += b.toString();
  });
  const url = await until(
    'the service to listen',
    () => /"url":"(http:\/\/[^"]+)"/.exec(log)?.[1],
    () => log,
  );
  const browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
  const api = (role: RoleName, path: string, init: RequestInit = {}) =>
    fetch(`${url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKENS[role]}`, ...init.headers },
    });
  // The first cycles: the Now view has something to show.
  await until(
    'a recorded cycle',
    async () => {
      const body = (await (await api('viewer', '/results?limit=20')).json()) as {
        results: { status: string }[];
      };
      return body.results.some((r) => r.status === 'ok') ? true : undefined;
    },
    () => log,
  );
  return {
    url,
    browser,
    log: () => log,
    api,
    async signIn(role) {
      const context = await browser.newContext({ viewport: { width: 1600, height: 900 } });
      const page = await context.newPage();
      await page.goto(`${url}/login`);
      await page.fill('#token', TOKENS[role]);
      await Promise.all([page.waitForURL(`${url}/`), page.click('form[action="/login"] button')]);
      return { context, page };
    },
    async stop() {
      await browser.close().catch(() => undefined);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
