// Opens the service context for one CLI command and always closes it; and the abort wiring for long runs:
// SIGINT/SIGTERM abort the run (its child is killed, its files removed, its row journaled `interrupted`).

import { openContext, closeContext, type ServiceContext } from '../services/context.ts';
import type { Io } from './output.ts';

/** Runs fn with an open service context. */
export async function withContext<T>(io: Io, fn: (ctx: ServiceContext) => Promise<T>): Promise<T> {
  const ctx = await openContext({ announce: (m) => io.err(`${m}\n`) });
  try {
    return await fn(ctx);
  } finally {
    await closeContext(ctx);
  }
}

/** An AbortSignal fired by SIGINT or SIGTERM while fn runs; a second signal exits at once. */
export async function withInterrupt<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(130);
    ac.abort(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
