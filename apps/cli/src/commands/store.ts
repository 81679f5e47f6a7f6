import { isPoError } from '@po/core';
import { createModelProvider } from '@po/models';
import { checkStrategy, compileStrategy, type StrategySpec } from '@po/rto-engine';
import {
  deployVersion,
  listVersions,
  modelKey,
  type ObjectStore,
  readStrategy,
  uploadModels,
  uploadStrategy,
} from '@po/storage';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { CliError } from '../errors.ts';
import type { Output } from '../io.ts';
import { strategyLimitsOf } from '../service/limits.ts';
import { deployedVersion, openStore, readSettings, type StoreFlags, storeModelReader } from './context.ts';
import { readUserFile } from './load.ts';

/** Adds the store flags to a command. */
export function withStoreFlags(cmd: Command): Command {
  return cmd
    .option('--store <kind>', 'local or s3 (default: PO_STORE, else config/app.yaml, else local)')
    .option('--store-dir <dir>', 'folder of the local store (PO_LOCAL_STORE_DIR)')
    .option('--metadata-dir <dir>', 'folder of deployed_config_version.yaml (PO_METADATA_DIR)')
    .option('--settings <file>', 'settings file (default config/app.yaml)');
}

/** Files a strategy names (model, scaler, metadata) that the store does not hold. */
async function missingFiles(store: ObjectStore, strategy: StrategySpec): Promise<string[]> {
  const problems: string[] = [];
  for (const [name, skill] of Object.entries(strategy.skills)) {
    if (skill.class !== 'InferenceModel') continue;
    const paths = [skill.config.model_path, skill.config.scaler_path, skill.config.metadata_path];
    for (const path of paths) {
      if (path === undefined) continue;
      let key: string;
      try {
        key = modelKey(path);
      } catch (e) {
        problems.push(`skills.${name}: ${(e as Error).message}`);
        continue;
      }
      if (!(await store.stat(key)))
        problems.push(`skills.${name}: '${path}' is not in the store (expected ${key})`);
    }
  }
  return problems;
}

async function withStore<T>(flags: StoreFlags, fn: (store: ObjectStore) => Promise<T>): Promise<T> {
  const settings = readSettings(flags);
  const store = await openStore(settings);
  try {
    return await fn(store);
  } finally {
    await store.close?.();
  }
}

/** Prints a command's result: JSON with --json, else the text. */
type Print = (json: boolean | undefined, value: unknown, text: string) => void;

export function registerStoreCommands(program: Command, output: Output): void {
  const print: Print = (json, value, text) => output.out(json ? JSON.stringify(value, null, 2) : text);
  registerUploadConfig(program, print);
  registerUploadModels(program, output, print);
  registerDeploy(program, print);
  registerStoreListing(program, print);
}

function registerUploadConfig(program: Command, print: Print): void {
  withStoreFlags(
    program
      .command('upload-config')
      .description(
        'upload a strategy as a new version (validated; every model file it names must be in the store)',
      )
      .requiredOption('--config <file>', 'strategy YAML file')
      .requiredOption('--version <x.y.z>', 'semantic version')
      .option('--force', 'replace an existing version with different content')
      .option('--json', 'print the result as JSON'),
  ).action(
    async (opts: StoreFlags & { config: string; version: string; force?: boolean; json?: boolean }) => {
      const text = await readUserFile(opts.config, 'strategy');
      await withStore(opts, async (store) => {
        const result = await uploadStrategy(store, opts.version, new TextEncoder().encode(text), {
          force: Boolean(opts.force),
          validate: async () => {
            const check = checkStrategy(text, { limits: strategyLimitsOf(readSettings(opts)) });
            if (!check.strategy) return check.errors.map((i) => `${i.path}: ${i.message}`);
            return missingFiles(store, check.strategy);
          },
        });
        print(
          opts.json,
          result,
          `strategy ${result.version}: ${result.status} (${result.key} in ${store.location})`,
        );
      });
    },
  );
}

function registerUploadModels(program: Command, output: Output, print: Print): void {
  withStoreFlags(
    program
      .command('upload-models')
      .description(
        'upload a models folder in the predecessor layout (saved_models, saved_scalers, saved_metadata)',
      )
      .requiredOption('--data-dir <dir>', 'folder holding saved_models/ etc. (or models/saved_models/ etc.)')
      .option('--json', 'print the result as JSON'),
  ).action(async (opts: StoreFlags & { dataDir: string; json?: boolean }) => {
    await withStore(opts, async (store) => {
      const bar =
        output.isTTY && !opts.json
          ? new SingleBar({ format: 'uploading {bar} {value}/{total} {file}' })
          : undefined;
      const result = await uploadModels(store, opts.dataDir, {
        onProgress: (p) => {
          if (bar) {
            if (p.done === 1) bar.start(p.total, 0, { file: '' });
            bar.update(p.done, { file: p.path });
          } else if (!opts.json) {
            output.err(`[${p.done}/${p.total}] ${p.status} ${p.path}`);
          }
        },
      });
      bar?.stop();
      print(
        opts.json,
        result,
        `${result.uploaded} uploaded, ${result.skipped} unchanged (skipped), to ${store.location}`,
      );
    });
  });
}

function registerDeploy(program: Command, print: Print): void {
  withStoreFlags(
    program
      .command('deploy')
      .description('deploy a strategy version: refused unless it validates and every model file loads')
      .argument('<version>', 'the version to deploy')
      .option(
        '--store-pointer',
        'also write the pointer in the store, so that every runner of a fleet follows it',
      )
      .option('--json', 'print the result as JSON'),
  ).action(async (version: string, opts: StoreFlags & { storePointer?: boolean; json?: boolean }) => {
    const settings = readSettings(opts);
    await withStore(opts, async (store) => {
      const document = await readStrategy(store, version);
      let strategy: Awaited<ReturnType<typeof compileStrategy>>;
      try {
        strategy = await compileStrategy(document.text, {
          modelProvider: createModelProvider({ readFile: storeModelReader(store) }),
          version,
          source: document.key,
          limits: strategyLimitsOf(settings),
        });
      } catch (e) {
        if (isPoError(e)) throw new CliError(`[po] version ${version} is not deployed:\n${e.message}`);
        throw e;
      }
      await strategy.dispose();
      await deployVersion(store, version, {
        metadataDir: settings.metadata_dir,
        fleet: Boolean(opts.storePointer),
      });
      const where = `${settings.metadata_dir}/deployed_config_version.yaml${opts.storePointer ? ' and the store' : ''}`;
      print(
        opts.json,
        { version, deployed: true, pointer: where, model_files: strategy.modelFiles },
        `deployed ${version} (${strategy.modelFiles.length} model files loaded; pointer: ${where})`,
      );
    });
  });
}

function registerStoreListing(program: Command, print: Print): void {
  const storeCmd = program.command('store').description('look into the object store');
  withStoreFlags(
    storeCmd
      .command('ls')
      .description('list objects (optionally under a prefix)')
      .argument('[prefix]', 'key prefix, e.g. models/', '')
      .option('--json', 'print JSON'),
  ).action(async (prefix: string, opts: StoreFlags & { json?: boolean }) => {
    await withStore(opts, async (store) => {
      const objects = await store.list(prefix);
      print(
        opts.json,
        objects,
        objects.length === 0
          ? `no objects under '${prefix}' in ${store.location}`
          : objects
              .map((o) => `${String(o.size).padStart(10)}  ${o.lastModified.toISOString()}  ${o.key}`)
              .join('\n'),
      );
    });
  });
  withStoreFlags(
    storeCmd
      .command('versions')
      .description('list strategy versions (semantic order)')
      .option('--json', 'print JSON'),
  ).action(async (opts: StoreFlags & { json?: boolean }) => {
    const settings = readSettings(opts);
    await withStore(opts, async (store) => {
      const versions = await listVersions(store);
      const deployed = await deployedVersion(store, settings);
      print(
        opts.json,
        { deployed: deployed ?? null, versions },
        versions.length === 0
          ? `no strategy versions in ${store.location}`
          : versions
              .map((v) => `${v.version === deployed ? '*' : ' '} ${v.version.padEnd(12)} ${v.key}`)
              .join('\n'),
      );
    });
  });
}
