// /api/notifiers: where alerts go (secrets are write-only: answers show where messages go, without tokens),
// /api/notifiers/:id/test (a real test message, the far side's answer), /api/notifications (the notification
// journal: channel, event, attempts, last error).

import { z } from 'zod';
import { addNotifier, getNotifier, listNotifiers, notificationJournal, removeNotifier, testNotifier, updateNotifier } from '../../services/notifiers.ts';
import { defineRoute, type ApiDeps, type RouteDef } from '../route.ts';
import { Delivery, IdParams, NotificationQuery, Notifier, NotifierCreate, NotifierPatch, NotifierTest } from '../schemas.ts';

/** The notifier routes. */
export function notifierRoutes({ ctx }: ApiDeps): RouteDef[] {
  const tag = 'notifications';
  return [
    defineRoute({ method: 'GET', url: '/api/notifiers', role: 'viewer', tag, summary: 'List notifiers', response: z.array(Notifier), handler: () => listNotifiers(ctx) }),
    defineRoute({
      method: 'POST',
      url: '/api/notifiers',
      role: 'admin',
      tag,
      summary: 'Add a notifier {name, type, default, events, ...settings}',
      body: NotifierCreate,
      status: 201,
      errors: [400, 409],
      response: Notifier,
      handler: ({ body }) => addNotifier(ctx, body),
    }),
    defineRoute({
      method: 'GET',
      url: '/api/notifiers/:id',
      role: 'viewer',
      tag,
      summary: 'One notifier (by id or name)',
      params: IdParams,
      errors: [404],
      response: Notifier,
      handler: ({ params }) => getNotifier(ctx, params.id),
    }),
    defineRoute({
      method: 'PATCH',
      url: '/api/notifiers/:id',
      role: 'admin',
      tag,
      summary: 'Rename a notifier or change its settings',
      params: IdParams,
      body: NotifierPatch,
      errors: [400, 404, 409],
      response: Notifier,
      handler: ({ params, body }) => updateNotifier(ctx, params.id, body),
    }),
    defineRoute({
      method: 'DELETE',
      url: '/api/notifiers/:id',
      role: 'admin',
      tag,
      summary: 'Remove a notifier (the rules naming it go too)',
      params: IdParams,
      errors: [404],
      response: Notifier,
      handler: ({ params }) => removeNotifier(ctx, params.id),
    }),
    defineRoute({
      method: 'POST',
      url: '/api/notifiers/:id/test',
      role: 'operator',
      tag,
      summary: "Send a real test message; the far side's answer (status failed when it refused)",
      params: IdParams,
      errors: [404],
      response: NotifierTest,
      handler: ({ params }) => testNotifier(ctx, params.id),
    }),
    defineRoute({
      method: 'GET',
      url: '/api/notifications',
      role: 'viewer',
      tag,
      summary: 'The notification journal, newest first',
      query: NotificationQuery,
      errors: [400, 404],
      response: z.array(Delivery),
      handler: ({ query }) => notificationJournal(ctx, query),
    }),
  ];
}
