import { Command, Option } from 'commander';
import { registerCacheCommands } from './commands/cache.ts';
import { registerFleetDemoCommands } from './commands/fleet-demo.ts';
import { registerModelsCommands } from './commands/models.ts';
import { runOptimize, runSimulate } from './commands/optimize.ts';
import { registerReplayCommand } from './commands/replay.ts';
import { registerStartCommand } from './commands/start.ts';
import { registerStoreCommands, withStoreFlags } from './commands/store.ts';
import { registerUnitsCommands } from './commands/units.ts';
import { runValidate } from './commands/validate.ts';
import { CliError, errorReport, exitCodeOf } from './errors.ts';
import { type Output, processOutput } from './io.ts';

export const VERSION = '0.1.0';

/**
 * Runs `po` with the given arguments and returns the exit code: 0 success, 1 a problem
 * with the user's files or data (printed without a stack), 2 wrong usage, 70 a bug
 * (`exitCodeOf` in errors.ts).
 */
export async function main(argv: readonly string[], output: Output = processOutput): Promise<number> {
  try {
    await buildProgram(output).parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    const report = errorReport(e);
    if (report) output.err(report);
    return exitCodeOf(e);
  }
}

/** The `po` program: every command, writing to `output`; errors are thrown to `main`. */
function buildProgram(output: Output): Command {
  const program = new Command('po')
    .description('po: real-time optimization of industrial processes (cement kilns first)')
    .version(VERSION)
    // Program options only before the command, so that `po upload-config --version 1.0.0` works.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (s) => output.out(s), writeErr: (s) => output.err(s) })
    .showHelpAfterError('(run po --help for usage)');

  program
    .command('validate')
    .description('check a strategy: exit 0 with a summary, or exit 1 with every problem')
    .argument('<strategy>', 'strategy YAML file')
    .option('--json', 'print the check as JSON')
    .option('--settings <file>', 'settings file whose limits.* bound the strategy (default: the service’s)')
    .action(async (strategy: string, opts: { json?: boolean; settings?: string }) => {
      await runValidate(strategy, opts, output);
    });

  const cycleOptions = (cmd: Command) =>
    withStoreFlags(cmd)
      .option(
        '--config <strategy>',
        'strategy YAML file (default: the deployed strategy of the configured store)',
      )
      .option('--models-dir <dir>', 'folder holding the model files (default: the strategy file’s folder)')
      .requiredOption(
        '--input <state>',
        'plant state JSON: { "Var": value, ... } or { "input_data": { ... } }',
      )
      .option('--version-label <version>', 'version reported with the result')
      .option('--json', 'print exactly the result object');

  cycleOptions(
    program
      .command('optimize')
      .description('run one optimization cycle on local files and print the recommendation'),
  )
    .addOption(new Option('--max-time-ms <ms>', 'time budget of the optimizer').argParser(positiveNumber))
    .action(async (opts) => {
      await runOptimize(opts, output);
    });

  cycleOptions(
    program
      .command('simulate')
      .description('what-if: evaluate the strategy at given decision values without optimizing'),
  )
    .option(
      '--set <VAR=VALUE...>',
      'decision value(s) to evaluate at (others hold their current values)',
      collect,
      [],
    )
    .action(async (opts) => {
      await runSimulate(opts, output);
    });

  // Command groups, one module each: `register<Group>Commands(program, output)`.
  // (command groups: registered below)
  registerModelsCommands(program, output);
  registerStoreCommands(program, output);
  registerCacheCommands(program, output);
  registerUnitsCommands(program, output);
  registerFleetDemoCommands(program, output);
  registerStartCommand(program, output);
  registerReplayCommand(program, output);
  return program;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new CliError(`[po] --max-time-ms must be a positive number, got '${value}'`, 2);
  return n;
}
