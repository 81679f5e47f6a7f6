import { ModelLoadError, PoError } from '@po/core';
import { describe, expect, it } from 'vitest';
import { ApiError, httpError, toApiError } from './errors.ts';
import { CycleTaskError } from './pool/index.ts';

const invalid = () =>
  new CycleTaskError({
    name: 'StrategyValidationError',
    code: 'STRATEGY_INVALID',
    scope: 'rto-engine',
    message: '[po/rto-engine] Strategy is invalid (1 problem):\n  - tasks: is required',
    issues: [{ path: 'tasks', message: 'is required' }],
  });

describe('toApiError', () => {
  it('maps engine and pool codes to statuses, without the [po/<scope>] prefix', () => {
    expect(toApiError(invalid(), 'request')?.body()).toEqual({
      status: 'error',
      timestamp: expect.any(String),
      error: 'Strategy is invalid (1 problem): tasks: is required',
      error_type: 'STRATEGY_INVALID',
      code: 'STRATEGY_INVALID',
      details: [{ path: 'tasks', message: 'is required' }],
    });
    const cases: [string, number][] = [
      ['INPUT_INVALID', 400],
      ['FORMULA_INVALID', 400],
      ['CYCLE_FAILED', 422],
      ['OPTIMIZER_FAILED', 422],
      ['POOL_BUSY', 503],
      ['POOL_CLOSED', 503],
      ['ABORTED', 503],
      ['TIMEOUT', 504],
    ];
    for (const [code, status] of cases) {
      const mapped = toApiError(new PoError('rto-engine', code, 'what went wrong'), 'request');
      expect(mapped).toMatchObject({ status, code });
      expect(mapped?.body().error).toBe('what went wrong');
    }
  });

  it('reads an error with a code from a strategy run on this thread like one from a worker', () => {
    const error = new PoError('rto-engine', 'CYCLE_FAILED', 'the cost is not finite');
    expect(toApiError(error, 'request')?.body()).toEqual({
      status: 'error',
      timestamp: expect.any(String),
      error: 'the cost is not finite',
      error_type: 'CYCLE_FAILED',
      code: 'CYCLE_FAILED',
    });
  });

  it('a model that does not load (any code) is 400 for a request, 503 for the deployed strategy', () => {
    const missing = new ModelLoadError({
      skill: 'im_co',
      role: 'model',
      path: 'models/x.onnx',
      problem: 'the file does not exist',
      code: 'FILE_NOT_FOUND',
    });
    expect(toApiError(missing, 'request')).toMatchObject({ status: 400, code: 'FILE_NOT_FOUND' });
    expect(toApiError(missing, 'request')?.body().error).toBe(
      "Skill 'im_co': model file 'models/x.onnx': the file does not exist.",
    );
    expect(toApiError(missing, 'deployed')?.body()).toMatchObject({
      error:
        "the deployed strategy cannot be loaded: Skill 'im_co': model file 'models/x.onnx': the file does not exist.",
    });
    expect(toApiError(missing, 'deployed')?.status).toBe(503);
    // The same error after crossing the thread boundary.
    const fromWorker = new CycleTaskError({ name: 'ModelLoadError', code: 'UNSAFE_PATH', message: 'no' });
    expect(toApiError(fromWorker, 'request')?.status).toBe(400);
    expect(toApiError(fromWorker, 'deployed')?.status).toBe(503);
    expect(toApiError(invalid(), 'deployed')).toMatchObject({
      status: 503,
      message: expect.stringContaining('the deployed strategy cannot be loaded: Strategy is invalid'),
    });
  });

  it('leaves errors nobody classified to the 500 handler', () => {
    expect(toApiError(new TypeError('x is undefined'), 'request')).toBeUndefined();
    expect(toApiError(new PoError('db', 'UNREACHABLE', 'gone'), 'request')).toBeUndefined();
    expect(toApiError('a string', 'request')).toBeUndefined();
  });

  it('passes an ApiError through', () => {
    const error = httpError.notFound("no result with id '2'");
    expect(toApiError(error, 'deployed')).toBe(error);
    expect(error).toBeInstanceOf(PoError);
    expect(error).toBeInstanceOf(ApiError);
    expect(error.message).toBe("[po/api] no result with id '2'");
  });
});
