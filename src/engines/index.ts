// Engine registry: engine name -> implementation. Adding an engine is its file, one line here, and its test.

import { Registry } from '../core/registry.ts';
import type { Engine } from '../core/types.ts';
import { postgres } from './postgres.ts';
import { mysql } from './mysql.ts';
import { mongodb } from './mongodb.ts';
import { sqlite } from './sqlite.ts';

export const engines = new Registry<Engine>('engine').register('postgres', postgres).register('mysql', mysql).register('mongodb', mongodb).register('sqlite', sqlite);
