// The one HTTP POST every web channel uses: a timeout per attempt, no redirects followed (a webhook that
// moved is a configuration to fix, and following one could send the body elsewhere), the far side's answer
// read only up to a few KiB, and the outcome classified: network errors, timeouts, 5xx and 429 may pass
// on a retry; any other answer outside 2xx will not.

import { failure, usageError } from '../core/errors.ts';
import { redact } from '../core/redact.ts';
import type { SendResult } from './channel.ts';

const ANSWER_BYTES = 2048;

/** Reads at most ANSWER_BYTES of a response body as text, then drops the rest. */
async function readSome(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < ANSWER_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, ANSWER_BYTES).toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 300);
}

/** POSTs `body` to `url`; `what` names the channel in errors ("slack notifier"). */
export async function postTo(url: string, body: string, headers: Record<string, string>, timeoutMs: number, what: string): Promise<SendResult> {
  const where = displayUrl(url);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, headers: { 'user-agent': 'coffre', ...headers }, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const reason = e.name === 'TimeoutError' ? `no answer within ${Math.round(timeoutMs / 1000)}s` : (e.cause?.code ?? e.message);
    throw failure('NOTIFY_UNREACHABLE', `The ${what} could not reach ${where}: ${redact(String(reason))}.`, { retryable: true });
  }
  const answer = await readSome(res);
  const shown = `HTTP ${res.status}${answer ? ` ${redact(answer).slice(0, 200)}` : ''}`;
  if (res.status >= 200 && res.status < 300) return { answer: shown };
  const retryable = res.status >= 500 || res.status === 429 || res.status === 408;
  throw failure(
    retryable ? 'NOTIFY_FAR_SIDE_ERROR' : 'NOTIFY_REFUSED',
    `The ${what} got ${shown} from ${where}${retryable ? '' : ': check its URL and credentials (not retried)'}.`,
    { retryable, details: { status: res.status } },
  );
}

/** "https://hooks.slack.com/***": a URL's origin only, since paths and queries of webhooks carry their tokens. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' && !u.search ? '' : '/***'}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Checks an http(s) URL setting; `field` names it in the error. */
export function checkHttpUrl(value: unknown, field: string, type: string): string {
  if (typeof value !== 'string' || value === '')
    throw usageError('MISSING_SETTING', `A ${type} notifier needs --${field} URL (or --${field}-env VAR / --${field}-file PATH).`, { field });
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw usageError('BAD_URL', `The --${field} of a ${type} notifier is not a URL.`, { field });
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw usageError('BAD_URL', `The --${field} of a ${type} notifier must be an http:// or https:// URL (got ${u.protocol}).`, { field });
  if (u.username || u.password)
    throw usageError(
      'BAD_URL',
      `The {hint} of a ${type} notifier must not carry a user or password; give the channel's token as its own setting where it takes one.`,
      { field },
      { option: field },
    );
  return u.toString();
}

/** Refuses settings a channel does not know, naming them (a typo must not be silently ignored). */
export function rejectUnknown(input: Record<string, unknown>, known: readonly string[], type: string): void {
  const unknown = Object.keys(input).filter((k) => !known.includes(k) && input[k] !== undefined);
  if (unknown.length) {
    const kebab = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw usageError('UNKNOWN_SETTING', `A ${type} notifier has no setting ${unknown.map(kebab).join(', ')}: it takes ${known.map(kebab).join(', ')}.`, { field: unknown[0] });
  }
}
