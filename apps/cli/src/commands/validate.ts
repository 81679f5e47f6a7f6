import { checkStrategy, type StrategyIssue } from '@po/rto-engine';
import pc from 'picocolors';
import { CliError } from '../errors.ts';
import type { Output } from '../io.ts';
import { strategyLimitsOf } from '../service/limits.ts';
import { readSettings } from './context.ts';
import { readUserFile } from './load.ts';

/** Checks a strategy file against the bounds the service applies (`limits.*` of the settings). */
export async function runValidate(
  path: string,
  opts: { json?: boolean; settings?: string },
  output: Output,
): Promise<void> {
  const limits = strategyLimitsOf(readSettings(opts.settings ? { settings: opts.settings } : {}));
  const text = await readUserFile(path, 'strategy');
  const check = checkStrategy(text, { limits });
  const s = check.strategy;
  if (opts.json) {
    output.out(
      JSON.stringify(
        {
          valid: check.errors.length === 0,
          file: path,
          errors: check.errors,
          warnings: check.warnings,
          ...(s ? { summary: summarize(s) } : {}),
        },
        null,
        2,
      ),
    );
    if (check.errors.length > 0) throw new CliError('', 1);
    return;
  }
  const list = (issues: StrategyIssue[]) => issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n');
  if (!s) {
    throw new CliError(
      `${pc.red('✗')} ${path} is invalid (${check.errors.length} problem${check.errors.length === 1 ? '' : 's'}):\n${list(check.errors)}` +
        (check.warnings.length > 0 ? `\n${pc.yellow('warnings:')}\n${list(check.warnings)}` : ''),
    );
  }
  const sum = summarize(s);
  output.out(
    `${pc.green('✓')} ${path} is valid: ${sum.variables} variables, ${sum.skills} skills (${Object.entries(
      sum.skillsByClass,
    )
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}), ${sum.tasks} tasks; compat ${sum.compat}`,
  );
  if (check.warnings.length > 0)
    output.out(`${pc.yellow(`${check.warnings.length} warning(s):`)}\n${list(check.warnings)}`);
}

function summarize(s: NonNullable<ReturnType<typeof checkStrategy>['strategy']>) {
  const skillsByClass: Record<string, number> = {};
  for (const skill of Object.values(s.skills))
    skillsByClass[skill.class] = (skillsByClass[skill.class] ?? 0) + 1;
  return {
    variables: Object.keys(s.variables).length,
    skills: Object.keys(s.skills).length,
    skillsByClass,
    tasks: s.tasks.length,
    compat: s.engine?.compat ?? 'po',
  };
}
