import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isPoError, type VariableRange } from '@po/core';
import {
  describeModelFile,
  type ImportedLayer,
  importPthModel,
  importScalerPickle,
  modelFileFormat,
  type NetworkDescription,
  type ScalerDescription,
} from '@po/models';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import pc from 'picocolors';
import { CliError } from '../errors.ts';
import type { Output } from '../io.ts';

interface ConvertOptions {
  out?: string;
  activation?: string;
  metadata?: string;
  dataDir?: string;
  outDir?: string;
  json?: boolean;
}

/** One converted file. */
interface Conversion {
  file: string;
  out: string;
  kind: 'model' | 'scalers';
  /** Model: derived layers; scalers: keys. */
  summary: string;
  activation?: string;
  activationSource?: string;
  metadata?: string;
}

/**
 * `po models convert` and `po models inspect`: the predecessor's `.pth` state_dicts and
 * `.pkl` scalers read by @po/models' restricted reader (nothing in them runs) and written
 * as ONNX and po's JSON scaler format.
 */
export function registerModelsCommands(program: Command, output: Output): void {
  const models = program
    .command('models')
    .description(
      "import the predecessor's .pth models and .pkl scalers (a restricted reader: nothing in them runs)",
    );

  models
    .command('convert')
    .description(
      'convert a .pth state_dict to ONNX or a .pkl scaler dict to po JSON; or a whole folder with --data-dir',
    )
    .argument('[file]', '.pth/.pt state_dict or .pkl scaler file')
    .option('--out <file>', 'output file: .onnx for a model, .json for scalers')
    .option(
      '--activation <name>',
      'activation of a .pth network (gelu, relu, tanh, sigmoid, leaky_relu, silu)',
    )
    .option('--metadata <file>', 'the model’s metadata JSON (activation, architecture.layers)')
    .option('--data-dir <dir>', 'batch: a folder with saved_models/, saved_scalers/, saved_metadata/')
    .option('--out-dir <dir>', 'batch: where to write the same layout (.onnx, .json, metadata copied)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string | undefined, opts: ConvertOptions) => {
      if (opts.dataDir !== undefined || opts.outDir !== undefined) {
        if (file !== undefined || opts.out !== undefined) {
          throw new CliError('[po] give either <file> --out <file>, or --data-dir <dir> --out-dir <dir>', 2);
        }
        if (opts.dataDir === undefined || opts.outDir === undefined) {
          throw new CliError('[po] batch mode needs both --data-dir <dir> and --out-dir <dir>', 2);
        }
        await convertFolder(opts.dataDir, opts.outDir, opts, output);
        return;
      }
      if (file === undefined) throw new CliError('[po] models convert needs <file> (or --data-dir)', 2);
      if (opts.out === undefined) throw new CliError(`[po] models convert ${file} needs --out <file>`, 2);
      const result = await convertFile(file, opts.out, opts);
      output.out(opts.json ? JSON.stringify(result, null, 2) : describeConversion(result));
    });

  models
    .command('inspect')
    .description('show the layers and shapes of a .pth/.onnx network, or the scalers of a .pkl/.json file')
    .argument('<file>', '.pth, .pt, .onnx, .pkl or .json file')
    .option('--activation <name>', 'activation of a .pth network')
    .option('--metadata <file>', 'the model’s metadata JSON')
    .option('--json', 'print the description as JSON')
    .action(async (file: string, opts: { activation?: string; metadata?: string; json?: boolean }) => {
      formatOf(file);
      const bytes = await readInput(file, 'file');
      const metadata = opts.metadata === undefined ? undefined : await readMetadata(opts.metadata);
      const description = importing(file, () =>
        describeModelFile(bytes, file, { activation: opts.activation, metadata }),
      );
      output.out(opts.json ? JSON.stringify(description, null, 2) : formatDescription(description));
    });
}

function formatOf(file: string): 'pth' | 'onnx' | 'pkl' | 'json' {
  const format = modelFileFormat(file);
  if (format === undefined) {
    throw new CliError(`[po] '${file}': unknown extension; expected .pth, .pt, .onnx, .pkl or .json`, 2);
  }
  return format;
}

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (e as Error).message;
    throw new CliError(`[po] cannot read ${what} '${path}': ${why}`);
  }
}

async function readMetadata(path: string): Promise<Record<string, unknown>> {
  const text = new TextDecoder().decode(await readInput(path, 'metadata'));
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CliError(`[po] metadata '${path}' is not valid JSON: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CliError(`[po] metadata '${path}' must be a JSON object`);
  }
  return json as Record<string, unknown>;
}

/** Runs a @po/models call; its errors become exit-1 CLI errors with their message. */
function importing<T>(file: string, run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (isPoError(e, undefined, 'models')) {
      const message = e.detail;
      throw new CliError(`[po] ${message.startsWith('File ') ? message : `'${file}': ${message}`}`);
    }
    throw e;
  }
}

/** Writes through a temporary file in the same folder and a rename: readers never see half a file. */
async function writeAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new CliError(`[po] cannot write '${path}': ${(e as Error).message}`);
  }
}

function layerText(layers: readonly Pick<ImportedLayer, 'kind' | 'shape' | 'detail'>[]): string {
  return layers
    .map((l) =>
      l.kind === 'linear'
        ? `Linear(${l.shape[1]}→${l.shape[0]})`
        : l.kind === 'batchnorm'
          ? `BatchNorm(${l.shape[0]})`
          : (l.detail ?? l.kind),
    )
    .join(' → ');
}

async function convertFile(
  file: string,
  out: string,
  opts: { activation?: string; metadata?: string; metadataJson?: Record<string, unknown> },
): Promise<Conversion> {
  const format = formatOf(file);
  if (format === 'pth') {
    if (!/\.onnx$/i.test(out))
      throw new CliError(`[po] --out for a model must end in .onnx, got '${out}'`, 2);
    const bytes = await readInput(file, 'model');
    const metadata =
      opts.metadataJson ?? (opts.metadata === undefined ? undefined : await readMetadata(opts.metadata));
    const net = importing(file, () => importPthModel(bytes, { file, activation: opts.activation, metadata }));
    await writeAtomic(out, net.onnx);
    return {
      file,
      out,
      kind: 'model',
      summary: layerText(net.layers),
      activation: net.layers.find((l) => l.kind === 'activation')?.detail ?? net.activation.fn,
      activationSource: net.activationSource,
      ...(opts.metadata === undefined ? {} : { metadata: opts.metadata }),
    };
  }
  if (format === 'pkl') {
    if (!/\.json$/i.test(out))
      throw new CliError(`[po] --out for scalers must end in .json, got '${out}'`, 2);
    const bytes = await readInput(file, 'scaler file');
    const scalers = importing(file, () => importScalerPickle(bytes, file));
    await writeAtomic(out, `${JSON.stringify(scalers, null, 2)}\n`);
    const keys = Object.keys(scalers.scalers);
    return {
      file,
      out,
      kind: 'scalers',
      summary: `${keys.length} scaler(s): ${keys.map((k) => `${k} (${scalers.scalers[k]!.kind})`).join(', ')}`,
    };
  }
  throw new CliError(
    `[po] '${file}': models convert reads .pth/.pt models and .pkl scalers, not .${format}`,
    2,
  );
}

function describeConversion(c: Conversion): string {
  const activation =
    c.activation === undefined ? '' : ` (activation ${c.activation} from ${c.activationSource})`;
  return `${pc.green('✓')} ${c.file} -> ${c.out}: ${c.summary}${activation}`;
}

async function listFiles(dir: string, pattern: RegExp): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => pattern.test(f)).sort();
  } catch {
    return [];
  }
}

/** The metadata file that names a model (files.model, files.onnx or name), by the model's base name. */
function metadataIndex(entries: { file: string; json: Record<string, unknown> }[]): Map<string, string> {
  const byModel = new Map<string, string>();
  for (const { file, json } of entries) {
    const files = json.files as Record<string, unknown> | undefined;
    const names = [files?.model, files?.onnx, json.model_file, json.name];
    for (const name of names) {
      if (typeof name === 'string' && name !== '') {
        byModel.set(basename(name).replace(/\.(pth|pt|onnx)$/i, ''), file);
      }
    }
  }
  return byModel;
}

async function convertFolder(dataDir: string, outDir: string, opts: ConvertOptions, output: Output) {
  // The predecessor's layout, or the bucket layout with a models/ prefix.
  const nested = (await listFiles(join(dataDir, 'models'), /^saved_(models|scalers|metadata)$/)).length > 0;
  const root = nested ? join(dataDir, 'models') : dataDir;
  const modelFiles = await listFiles(join(root, 'saved_models'), /\.(pth|pt)$/i);
  const scalerFiles = await listFiles(join(root, 'saved_scalers'), /\.pkl$/i);
  const metadataFiles = await listFiles(join(root, 'saved_metadata'), /\.json$/i);
  if (modelFiles.length + scalerFiles.length === 0) {
    throw new CliError(`[po] '${dataDir}' has no saved_models/*.pth nor saved_scalers/*.pkl to convert`);
  }
  const metadata: { file: string; json: Record<string, unknown> }[] = [];
  for (const name of metadataFiles) {
    const file = join(root, 'saved_metadata', name);
    metadata.push({ file, json: await readMetadata(file) });
  }
  const byModel = metadataIndex(metadata);

  const jobs = [
    ...modelFiles.map((name) => ({
      file: join(root, 'saved_models', name),
      out: join(outDir, 'saved_models', name.replace(/\.(pth|pt)$/i, '.onnx')),
      metadata: byModel.get(name.replace(/\.(pth|pt)$/i, '')),
    })),
    ...scalerFiles.map((name) => ({
      file: join(root, 'saved_scalers', name),
      out: join(outDir, 'saved_scalers', name.replace(/\.pkl$/i, '.json')),
      metadata: undefined,
    })),
  ];
  const bar =
    output.isTTY && !opts.json
      ? new SingleBar({
          format: 'converting {bar} {value}/{total} {file}',
          stream: process.stderr,
          hideCursor: true,
        })
      : undefined;
  bar?.start(jobs.length, 0, { file: '' });
  const converted: Conversion[] = [];
  const failed: { file: string; error: string }[] = [];
  for (const job of jobs) {
    bar?.update({ file: basename(job.file) });
    try {
      const json = metadata.find((m) => m.file === job.metadata)?.json;
      const result = await convertFile(job.file, job.out, {
        activation: opts.activation,
        ...(job.metadata === undefined ? {} : { metadata: job.metadata, metadataJson: json }),
      });
      converted.push(result);
      if (bar === undefined && !opts.json) output.out(describeConversion(result));
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      failed.push({ file: job.file, error: message });
      if (bar === undefined && !opts.json) output.err(`${pc.red('✗')} ${message}`);
    }
    bar?.increment();
  }
  bar?.stop();
  const copied: string[] = [];
  for (const { file } of metadata) {
    const out = join(outDir, 'saved_metadata', basename(file));
    await writeAtomic(out, await readInput(file, 'metadata'));
    copied.push(out);
  }
  if (opts.json) {
    output.out(JSON.stringify({ dataDir, outDir, converted, failed, copiedMetadata: copied }, null, 2));
  } else {
    output.out(
      `${converted.length} converted, ${failed.length} failed, ${copied.length} metadata file(s) copied to ${outDir}`,
    );
  }
  if (failed.length > 0) throw new CliError('', 1);
}

function formatDescription(d: NetworkDescription | ScalerDescription): string {
  if (d.type === 'network') {
    const head =
      d.format === 'pth'
        ? `${d.file}: PyTorch state_dict, ${d.inputSize} input(s) -> ${d.outputSize} output(s); activation ${d.activation ?? 'none'} (${d.activationSource})`
        : `${d.file}: ONNX (opset ${d.opset ?? '?'}, ${d.producer || 'unknown producer'}), ${d.inputSize ?? '?'} input(s) -> ${d.outputSize ?? '?'} output(s)`;
    const layers = d.layers.map(
      (l) =>
        `  ${(l.module ?? '').padEnd(d.format === 'pth' ? 11 : 28)} ${l.kind.padEnd(18)} ${l.shape.length > 0 ? `[${l.shape.join(', ')}]` : ''}${l.detail ? ` ${l.detail}` : ''}`,
    );
    const tensors = d.tensors.map(
      (t) => `  ${t.name.padEnd(32)} ${t.dtype.padEnd(8)} [${t.shape.join(', ')}]`,
    );
    return [
      head,
      'layers:',
      ...layers,
      d.format === 'pth' ? 'tensors:' : 'initializers:',
      ...tensors,
      ...domainLines(d),
    ].join('\n');
  }
  const lines = [`${d.file}: ${Object.keys(d.scalers).length} scaler(s)`];
  for (const [key, entry] of Object.entries(d.scalers)) {
    const params = Object.entries(entry)
      .filter(
        ([k]) =>
          !['kind', 'sklearn_class', 'transform', 'inverse_transform', 'feature_names_in_'].includes(k),
      )
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
      .join(' ');
    lines.push(`  ${key.padEnd(30)} ${String(entry.sklearn_class ?? entry.kind).padEnd(14)} ${params}`);
  }
  lines.push('training ranges (from the fitted scalers):');
  for (const [key, range] of Object.entries(d.trainingRanges))
    lines.push(`  ${key.padEnd(30)} ${rangeText(range)}`);
  return lines.join('\n');
}

function rangeText(range: VariableRange | string): string {
  if (typeof range === 'string') return `unknown: ${range}`;
  const mean = range.mean === undefined ? '' : `, mean ${range.mean}`;
  return `[${range.min}, ${range.max}]${mean}${range.soft ? ' (soft: an estimate, not the data extremes)' : ''}`;
}

/** The metadata's training domain and error, when `--metadata` gave them. */
function domainLines(d: NetworkDescription): string[] {
  const lines: string[] = [];
  if (d.trainingDomain) {
    lines.push('training domain (from the metadata):');
    for (const [name, range] of Object.entries(d.trainingDomain.variables)) {
      lines.push(`  ${name.padEnd(32)} ${rangeText(range)}`);
    }
    if (d.trainingDomain.covariance)
      lines.push(`  covariance of ${d.trainingDomain.covariance.variables.join(', ')}`);
  }
  if (d.trainingError) {
    const { rmse, meanAbs } = d.trainingError;
    lines.push(`training error (held out): rmse ${rmse ?? '?'}, mean absolute ${meanAbs ?? '?'}`);
  }
  return lines;
}
