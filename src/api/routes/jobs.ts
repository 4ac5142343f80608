// /api/jobs/:id and /api/events: following background runs. The event stream is Server-Sent Events:
// `job.queued`, `job.started` (with the journal id), `job.progress` (bytes and rate), `job.finished` (with
// the journal row). `?jobId=` narrows it to one job and starts with a `job.snapshot` of its current state,
// so a client that connects late still learns how the job ended; Last-Event-ID replays what was missed. The
// stream is one subscriber of the context's bus (ctx.events, the job runner's channel).

import type { JobEvent, JobView } from '../../services/jobs.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { EventsQuery, IdParams, Job } from '../schemas.ts';
import { z } from 'zod';

const HEARTBEAT_MS = 15_000;

/** The job routes. */
export function jobRoutes({ ctx, runner, streams }: ApiDeps): RouteDef[] {
  const tag = 'jobs';
  return [
    defineRoute({ method: 'GET', url: '/api/jobs', role: 'viewer', tag, summary: 'Jobs kept in memory, newest first', response: z.array(Job), handler: () => runner.list() }),
    defineRoute({
      method: 'GET',
      url: '/api/jobs/:id',
      role: 'viewer',
      tag,
      summary: 'One job: status, bytes, rate, journal id and, once finished, the journal row',
      params: IdParams,
      errors: [404],
      response: Job,
      handler: ({ params }) => runner.get(params.id),
    }),
    defineRoute({
      method: 'GET',
      url: '/api/events',
      role: 'viewer',
      tag,
      summary: 'Server-Sent Events: job.queued, job.started, job.progress, job.finished (data: the job). ?jobId= for one job; ?access_token= for EventSource',
      query: EventsQuery,
      raw: true,
      handler: ({ query, request, reply }) => {
        const jobId = query.jobId;
        const snapshot: JobView | undefined = jobId ? runner.get(jobId) : undefined; // 404 before the stream opens
        const raw = reply.raw;
        const headers = {
          ...reply.getHeaders(),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          connection: 'keep-alive',
          'x-accel-buffering': 'no',
        };
        reply.hijack();
        raw.writeHead(200, headers as Record<string, string>);
        raw.write('retry: 3000\n\n');
        const write = (event: string, data: unknown, id?: number) => {
          if (!raw.writableEnded) raw.write(`${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
        };
        const send = (e: JobEvent) => {
          if (!jobId || e.job.id === jobId) write(e.type, e.job, e.seq);
        };
        const lastId = Number(request.headers['last-event-id']);
        if (Number.isInteger(lastId) && lastId >= 0) for (const e of runner.eventsAfter(lastId)) send(e);
        else if (snapshot) write('job.snapshot', snapshot);
        const unsubscribe = ctx.events.subscribeJobs(send); // one subscriber of the bus
        const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
        const close = () => {
          clearInterval(heartbeat);
          unsubscribe();
          streams.delete(close);
          if (!raw.writableEnded) raw.end();
        };
        streams.add(close);
        request.raw.once('close', close);
        raw.once('error', close);
      },
    }),
  ];
}
