// Retries around any channel's send (principle 4: a wrapper, not a copy in each channel): an error the channel
// marks retryable is tried again after an exponential backoff with jitter, up to a number of attempts; any
// other error ends at once. Every attempt is reported, so the notification journal can count them.

import { asCoffreError, type CoffreError } from '../core/errors.ts';
import type { Channel, ChannelSettings, NotificationMessage, SendOptions, SendResult } from './channel.ts';

export interface RetryPolicy {
  /** Attempts in all (1 = no retry). */
  attempts: number;
  /** Wait before the second attempt; doubled for each later one (plus up to 20 % jitter). */
  baseDelayMs: number;
}

export type AttemptListener = (attempt: number, error: CoffreError | null) => void;

/** Sends with retries; resolves with the answer and the attempts made, or rejects with the last error (its details carry `attempts`). */
export async function sendWithRetry(
  channel: Channel,
  settings: ChannelSettings,
  message: NotificationMessage,
  options: SendOptions,
  policy: RetryPolicy,
  onAttempt: AttemptListener = () => {},
): Promise<SendResult & { attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await channel.send(settings, message, options);
      onAttempt(attempt, null);
      return { ...result, attempts: attempt };
    } catch (err) {
      const error = asCoffreError(err, 'NOTIFY_FAILED');
      onAttempt(attempt, error);
      if (!error.retryable || attempt >= policy.attempts) {
        Object.defineProperty(error, 'attempts', { value: attempt });
        throw error;
      }
      const delay = policy.baseDelayMs * 2 ** (attempt - 1);
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay * 0.2));
    }
  }
}

/** The attempts an error from sendWithRetry took (1 when unknown). */
export function attemptsOf(err: unknown): number {
  return (err as { attempts?: number } | null)?.attempts ?? 1;
}
