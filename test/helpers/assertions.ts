import assert from 'node:assert/strict';
import { AppError } from '../../src/errors.js';

/** Awaits a promise that must reject with an `AppError`, and returns that error. */
export async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AppError, `expected an AppError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}
