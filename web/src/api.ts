// The dashboard's only way to the server: the documented REST API, same origin, with the session cookie
// (sent by the browser, unreadable here: HttpOnly) and the session's CSRF token on every change.

export type Role = 'viewer' | 'operator' | 'admin';
export interface Session {
  name: string;
  role: Role;
  via: 'token' | 'session' | 'open';
  expiresAt: string | null;
  csrf: string | null;
}

let csrf: string | null = null;
let onLoggedOut: () => void = () => {};

export function useSession(s: Session | null): void {
  csrf = s?.csrf ?? null;
}
export function whenLoggedOut(f: () => void): void {
  onLoggedOut = f;
}

export class ApiError extends Error {
  status: number;
  code: string;
  /** Field name -> message, from the API's validation answer. */
  fields: Record<string, string>;
  /** The error's structured details (e.g. the databases that hold data), as the API gave them. */
  details: Record<string, unknown>;
  constructor(status: number, code: string, message: string, fields: Record<string, string>, details: Record<string, unknown> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.details = details;
  }
}

export async function api<T = any>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['x-coffre-csrf'] = csrf;
  const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  if (r.status === 204) return undefined as T;
  const j = await r.json().catch(() => null);
  if (!r.ok) {
    const e = j?.error ?? { code: 'COFFRE_E_HTTP', message: `${r.status} ${r.statusText}` };
    const fields: Record<string, string> = {};
    for (const f of e.details?.fields ?? []) fields[String(f.field).split('.')[0]] ??= f.message;
    if (typeof e.details?.field === 'string') fields[e.details.field] ??= e.message;
    if (r.status === 401 && url !== '/api/session') onLoggedOut();
    throw new ApiError(r.status, e.code, e.message, fields, e.details ?? {});
  }
  return j as T;
}

export const can = (s: Session | null, need: Role) => !!s && ['viewer', 'operator', 'admin'].indexOf(s.role) >= ['viewer', 'operator', 'admin'].indexOf(need);

type Listener = (type: string, job: any) => void;
const listeners = new Set<Listener>();
let source: EventSource | null = null;

/** Subscribes to /api/events (one EventSource shared by every page); returns the unsubscribe. */
export function onEvents(f: Listener): () => void {
  listeners.add(f);
  if (!source) {
    source = new EventSource('/api/events', { withCredentials: true });
    for (const type of ['job.queued', 'job.started', 'job.progress', 'job.finished']) {
      source.addEventListener(type, (ev) => {
        const job = JSON.parse((ev as MessageEvent).data);
        for (const l of listeners) l(type, job);
      });
    }
  }
  return () => {
    listeners.delete(f);
    if (listeners.size === 0 && source) {
      source.close();
      source = null;
    }
  };
}
