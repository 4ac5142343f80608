// Engine registry: engine name -> implementation. Adding an engine is its file, its entry in
// core/engine-names.ts (URL schemes, formats, SQL marks), one line here, and its test; the compiler refuses a
// name without its engine here (or an engine under another's name).

import { Registry } from '../core/registry.ts';
import type { Engine, EngineName } from '../core/types.ts';
import { postgres } from './postgres.ts';
import { mysql } from './mysql.ts';
import { mongodb } from './mongodb.ts';
import { sqlite } from './sqlite.ts';

const implementations: { [N in EngineName]: Engine & { name: N } } = { postgres, mysql, mongodb, sqlite };

export const engines = new Registry<Engine>('engine');
for (const engine of Object.values(implementations)) engines.register(engine.name, engine);
