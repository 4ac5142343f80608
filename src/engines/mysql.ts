// PLACEHOLDER: replaced by the real engine.
import type { Engine } from '../core/types.ts';
import { failure } from '../core/errors.ts';

const todo = () => Promise.reject(failure('NOT_IMPLEMENTED', 'The mysql engine is not implemented yet.'));

export const mysql = {
  name: 'mysql',
  restores: [],
  extension: 'sql',
  probe: todo,
  dump: todo,
  inspect: todo,
  restore: todo,
} satisfies Engine;
