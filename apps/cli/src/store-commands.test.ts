/**
 * Upload, deploy and run from a store through the built `po` binary: against a local store
 * folder, and against S3 served by s3rver on a loopback port (PO_STORE=s3).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startS3rver, type TestS3Server } from '@po/test-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { po, root } from '../test/po.ts';

const demo = join(root, 'config/demo');
const state = join(demo, 'example-state.json');
const strategy = join(demo, 'strategy.yaml');

interface Context {
  env: Record<string, string>;
  cwd: string;
}

function suite(name: string, setup: () => Promise<Context>, teardown: () => Promise<void>) {
  describe(name, () => {
    let ctx: Context;
    const run = (...args: string[]) => po(args, { cwd: ctx.cwd, env: ctx.env });
    beforeAll(async () => {
      ctx = await setup();
    }, 60_000);
    afterAll(teardown);

    it('refuses a strategy whose model files are not in the store, listing them', async () => {
      const r = await run('upload-config', '--config', strategy, '--version', '1.0.0');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("'saved_models/demo_delta_Kiln_Drive_Current_ann.onnx' is not in the store");
      expect(r.stderr).toContain('demo_delta_Clinker_temperature_scalers.json');
    });

    it('uploads the models, then skips unchanged files', async () => {
      const first = await run('upload-models', '--data-dir', join(demo, 'models'), '--json');
      expect(first.code).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ uploaded: 9, skipped: 0 });
      const again = await run('upload-models', '--data-dir', join(demo, 'models'), '--json');
      expect(JSON.parse(again.stdout)).toMatchObject({ uploaded: 0, skipped: 9 });
    });

    it('uploads versions; a version is immutable unless forced', async () => {
      expect((await run('upload-config', '--config', strategy, '--version', '1.0.0')).code).toBe(0);
      const same = await run('upload-config', '--config', strategy, '--version', '1.0.0', '--json');
      expect(JSON.parse(same.stdout).status).toBe('unchanged');
      const changed = join(ctx.cwd, 'changed.yaml');
      writeFileSync(changed, readFileSync(strategy, 'utf8').replace('threshold: 0.05,', 'threshold: 0.04,'));
      const refused = await run('upload-config', '--config', changed, '--version', '1.0.0');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('already exists');
      expect((await run('upload-config', '--config', changed, '--version', '1.1.0')).code).toBe(0);
      const bad = await run('upload-config', '--config', strategy, '--version', 'v2');
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/v2/);
    });

    it('lists versions and objects', async () => {
      const versions = await run('store', 'versions', '--json');
      expect(JSON.parse(versions.stdout).versions.map((v: { version: string }) => v.version)).toEqual([
        '1.0.0',
        '1.1.0',
      ]);
      const ls = await run('store', 'ls', 'models/saved_models/');
      expect(ls.stdout.trim().split('\n')).toHaveLength(3);
    });

    it('optimize without --config says nothing is deployed yet', async () => {
      const r = await run('optimize', '--input', state);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('no strategy is deployed');
    });

    it('deploys a version whose files load, and optimize then runs it from the store', async () => {
      const d = await run('deploy', '1.1.0', '--json');
      expect(d.stderr).toBe('');
      expect(JSON.parse(d.stdout)).toMatchObject({ version: '1.1.0', deployed: true });
      expect(readFileSync(join(ctx.cwd, 'metadata/deployed_config_version.yaml'), 'utf8')).toMatch(
        /config\.yaml: 1\.1\.0/,
      );
      const r = await run('optimize', '--input', state, '--json');
      expect(r.code).toBe(0);
      const result = JSON.parse(r.stdout);
      expect(result.config_version).toBe('1.1.0');
      expect(
        result.variables.Kiln_Coal_PV.upper_bound - result.variables.Kiln_Coal_PV.lower_bound,
      ).toBeCloseTo(0.08, 9);
    });

    it('refuses to deploy a version with a corrupt model file; the deployed version stays', async () => {
      const broken = join(ctx.cwd, 'broken');
      cpSync(join(demo, 'models'), join(broken, 'models'), { recursive: true });
      writeFileSync(join(broken, 'models/saved_models/demo_bad_ann.onnx'), 'not an onnx model');
      expect((await run('upload-models', '--data-dir', broken)).code).toBe(0);
      const text = readFileSync(strategy, 'utf8').replace(
        'saved_models/demo_delta_Calciner_outlet_CO_ann.onnx',
        'saved_models/demo_bad_ann.onnx',
      );
      writeFileSync(join(ctx.cwd, 'bad.yaml'), text);
      expect(
        (await run('upload-config', '--config', join(ctx.cwd, 'bad.yaml'), '--version', '2.0.0')).code,
      ).toBe(0);
      const d = await run('deploy', '2.0.0');
      expect(d.code).toBe(1);
      expect(d.stderr).toContain('version 2.0.0 is not deployed');
      expect(d.stderr).toContain('im_predict_Calciner_outlet_CO');
      expect(readFileSync(join(ctx.cwd, 'metadata/deployed_config_version.yaml'), 'utf8')).toMatch(/1\.1\.0/);
    });

    it('refuses a strategy naming a model path that escapes the store', async () => {
      const text = readFileSync(strategy, 'utf8').replace(
        'saved_models/demo_delta_Calciner_outlet_CO_ann.onnx',
        'saved_models/../../../etc/passwd',
      );
      writeFileSync(join(ctx.cwd, 'escape.yaml'), text);
      const r = await run('upload-config', '--config', join(ctx.cwd, 'escape.yaml'), '--version', '3.0.0');
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/etc\/passwd/);
    });

    it('cache --test loads the deployed strategy cold, then warm from the cache (no second download)', async () => {
      const r = await run('cache', '--test', '--json');
      expect(r.stderr).toBe('');
      const report = JSON.parse(r.stdout).test;
      expect(report.version).toBe('1.1.0');
      // The warm load read nothing from the store: every artifact was downloaded once, then hit.
      expect(report.cache.downloads).toBe(10);
      expect(report.cache.hits).toBeGreaterThanOrEqual(10);
    });

    it('cache --stats names the service it cannot reach', async () => {
      const r = await run('cache', '--stats', '--url', 'http://127.0.0.1:9');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('cannot reach the po service at http://127.0.0.1:9');
    });
  });
}

const localDir = mkdtempSync(join(tmpdir(), 'po-store-cli-'));
suite(
  'local store',
  async () => ({ cwd: localDir, env: { PO_STORE: 'local', PO_LOCAL_STORE_DIR: join(localDir, 'store') } }),
  async () => rmSync(localDir, { recursive: true, force: true }),
);

const s3Dir = mkdtempSync(join(tmpdir(), 'po-s3-cli-'));
let server: TestS3Server | undefined;
suite(
  'S3 store (s3rver on loopback)',
  async () => {
    // No bucket: the CLI creates it.
    server = await startS3rver({ buckets: [] });
    return {
      cwd: s3Dir,
      env: {
        PO_STORE: 's3',
        PO_S3_ENDPOINT: server.endpoint,
        PO_S3_ACCESS_KEY: server.accessKey,
        PO_S3_SECRET_KEY: server.secretKey,
        PO_BUCKET: 'process-optimization',
      },
    };
  },
  async () => {
    await server?.dispose();
    rmSync(s3Dir, { recursive: true, force: true });
  },
);
