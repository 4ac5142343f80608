// webhook: the message itself as JSON (README, "The webhook body"), POSTed to a URL. With a secret, the body
// is signed: `X-Coffre-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes with the secret>`, so the
// receiver can check that coffre sent it. `X-Coffre-Delivery` is stable across retries of one delivery.

import { createHmac } from 'node:crypto';
import { usageError } from '../core/errors.ts';
import type { Channel, ChannelSettings } from './channel.ts';
import { checkHttpUrl, displayUrl, postTo, rejectUnknown } from './http.ts';

/** The signature header's value for a body. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export const webhook = {
  type: 'webhook',
  configure(input) {
    rejectUnknown(input, ['url', 'secret'], 'webhook');
    const url = checkHttpUrl(input.url, 'url', 'webhook');
    const secrets: Record<string, string> = { url };
    if (input.secret !== undefined && input.secret !== null) {
      if (typeof input.secret !== 'string' || input.secret.length < 8)
        throw usageError('BAD_SETTING', 'The {hint} of a webhook notifier must be at least 8 characters.', { field: 'secret' }, { option: 'secret' });
      secrets.secret = input.secret;
    }
    return { config: { signed: secrets.secret !== undefined }, secrets };
  },
  async send(settings, message, options) {
    const body = JSON.stringify(message);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-coffre-event': message.event, 'x-coffre-delivery': options.deliveryId };
    if (settings.secrets.secret) headers['x-coffre-signature'] = signBody(settings.secrets.secret, body);
    return postTo(settings.secrets.url, body, headers, options.timeoutMs, 'webhook notifier');
  },
  describe: (s: ChannelSettings) => `${displayUrl(s.secrets.url ?? '')}${s.config.signed ? ' (signed)' : ''}`,
} satisfies Channel;
