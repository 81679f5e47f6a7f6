import type { ModelRequest, TrainingDomain, VariableRange } from '@po/core';
import type { ModelMetadata } from './metadata.ts';
import { type ScalerSet, scalerKey } from './scalers.ts';

/**
 * A model's training domain: the metadata's `training_domain` for the variables it names (it may
 * name variables other than the inputs, e.g. the operating point a delta model was trained
 * around), else each input's fitted scaler (`Scaler.range`); an input neither bounds is listed in
 * `unknown` with why. The source is `metadata` when the metadata gives a domain at all.
 */
export function trainingDomainOf(
  request: ModelRequest,
  metadata: ModelMetadata | undefined,
  scalers: ScalerSet | undefined,
): TrainingDomain {
  const given = metadata?.trainingDomain;
  const variables: Record<string, VariableRange> = { ...given?.variables };
  const unknown: Record<string, string> = {};
  for (const input of request.inputs) {
    if (Object.hasOwn(variables, input)) continue;
    const scaler = scalers?.scalers.get(scalerKey(input));
    if (scaler === undefined) {
      unknown[input] =
        request.scalerPath === undefined
          ? 'no scaler file and no training_domain in the metadata'
          : `no scaler for it (key '${scalerKey(input)}') and no training_domain range in the metadata`;
    } else if (typeof scaler.range === 'string') unknown[input] = scaler.range;
    else variables[input] = scaler.range;
  }
  const domain: TrainingDomain = { source: given ? 'metadata' : 'scalers', variables, unknown };
  if (given?.covariance) domain.covariance = given.covariance;
  return domain;
}
