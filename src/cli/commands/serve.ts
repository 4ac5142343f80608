// `coffre serve`: the REST API and its background job runner in one process, until SIGTERM or SIGINT. On
// either signal it stops taking jobs, lets running ones finish within SHUTDOWN_GRACE_SECONDS, aborts the
// rest (journaled `interrupted`), closes the HTTP server and the catalog, and exits 0. A second signal
// cuts the grace period short.

import { openContext, closeContext } from '../../services/context.ts';
import { JobRunner } from '../../services/jobs.ts';
import { startBackground, type Background } from '../../scheduler/background.ts';
import { failure, usageError } from '../../core/errors.ts';
import { optional, parse } from '../args.ts';
import type { Io } from '../output.ts';

export const help = `coffre serve [--port N] [--host H]      run the REST API (PORT 3001, HOST 127.0.0.1; docs at /api/docs) and the scheduler
coffre serve --no-api                  run a worker (scheduler, queued runs in cluster mode) without HTTP`;

/** `coffre serve`. */
export async function run(args: string[], io: Io): Promise<number> {
  const p = parse('serve', args, { port: { type: 'string' }, host: { type: 'string' }, 'no-api': { type: 'boolean' } }, 0);
  const noApi = p.values['no-api'] === true;
  const portText = optional(p, 'port');
  if (portText !== undefined && !/^\d{1,5}$/.test(portText)) throw usageError('BAD_PORT', `--port must be a port number (got "${portText}").`);
  const { buildServer, checkBindAddress, isLoopback } = await import('../../api/server.ts'); // Fastify loads only for this command
  const { fieldWords } = await import('../../api/errors.ts'); // how a job's error words its hint for API clients
  const ctx = await openContext({ announce: (m) => io.err(`${m}\n`) });
  const { api, logLevel } = ctx.config;
  const port = portText === undefined ? api.port : Number(portText);
  const host = optional(p, 'host') ?? api.host;
  const log = (line: string) => io.err(`${new Date().toISOString()} ${line}\n`);
  for (const w of ctx.config.warnings) io.err(`warning: ${w}\n`);
  let runner: JobRunner | undefined;
  let background: Background | undefined;
  try {
    if (port > 65535) throw usageError('BAD_PORT', `--port must be at most 65535 (got ${port}).`);
    if (!noApi) await checkBindAddress(ctx, host);
    runner = new JobRunner(ctx, { maxConcurrent: api.maxConcurrentJobs, allowedPaths: ctx.config.allowedPaths, pruneLog: log, hintWords: fieldWords });
    runner.subscribe((e) => {
      if (e.type === 'job.finished')
        log(`job ${e.job.id} ${e.job.type}${e.job.plan ? ` of plan ${e.job.plan}` : ''}: ${e.job.status}${e.job.error ? ` (${e.job.error.message})` : ''}`);
    });
    background = await startBackground(ctx, runner, log);
    const app = noApi ? undefined : await buildServer({ ctx, runner, requireToken: !isLoopback(host), log, logRequests: logLevel === 'debug' });
    if (!app) io.out(`coffre worker running without API (${background.mode} mode, pid ${process.pid})\n`);
    else
      await app.listen({ port, host }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') throw failure('PORT_IN_USE', `Port ${port} on ${host} is already in use: stop the other server or set PORT.`);
        if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') throw usageError('BAD_HOST', `Cannot listen on ${host}: no such address on this machine (HOST).`);
        throw err;
      });
    if (app) {
      const address = app.server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      const shown = host.includes(':') ? `[${host}]` : host;
      io.out(`coffre API listening on http://${shown}:${bound} (docs: /api/docs)\n`);
    }

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    });
    const grace = api.shutdownGraceSeconds;
    log(`${signal}: taking no new jobs; running ones have ${grace}s to finish`);
    const cut = () => {
      log('second signal: interrupting running jobs now');
      void runner!.shutdown(0);
    };
    process.once('SIGTERM', cut);
    process.once('SIGINT', cut);
    await background.stop();
    const summary = await runner.shutdown(grace * 1000);
    await background.close();
    log(`jobs: ${summary.finished} finished, ${summary.interrupted} interrupted (${summary.dropped} never started)`);
    await app?.close();
    process.off('SIGTERM', cut);
    process.off('SIGINT', cut);
    return 0;
  } finally {
    await background?.close();
    await closeContext(ctx);
  }
}
