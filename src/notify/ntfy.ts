// ntfy: a POST of the plain-text body to a topic URL (https://ntfy.sh/TOPIC or a self-hosted server), with the
// title, a priority (failures high) and tags in ntfy's headers, and `Authorization: Bearer` when a token is set.
// The topic URL is kept secret: on a public server, knowing the topic is what lets one read or post to it.

import { usageError } from '../core/errors.ts';
import type { Channel, ChannelSettings } from './channel.ts';
import { plainBody } from './fields.ts';
import { checkHttpUrl, displayUrl, postTo, rejectUnknown } from './http.ts';

/** Header values must be ASCII (ntfy also reads RFC 2047, but ASCII is what every proxy passes). */
function ascii(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

export const ntfy = {
  type: 'ntfy',
  configure(input) {
    rejectUnknown(input, ['url', 'token', 'priority'], 'ntfy');
    const secrets: Record<string, string> = { url: checkHttpUrl(input.url, 'url', 'ntfy') };
    if (new URL(secrets.url).pathname.split('/').filter(Boolean).length === 0)
      throw usageError('BAD_URL', 'The {hint} of an ntfy notifier must name a topic: https://ntfy.sh/TOPIC.', { field: 'url' }, { option: 'url' });
    if (input.token !== undefined && input.token !== null) {
      if (typeof input.token !== 'string' || !/^[\x21-\x7e]+$/.test(input.token))
        throw usageError('BAD_SETTING', 'The {hint} of an ntfy notifier must be one word of printable characters.', { field: 'token' }, { option: 'token' });
      secrets.token = input.token;
    }
    let priority: string | null = null;
    if (input.priority !== undefined && input.priority !== null) {
      if (typeof input.priority !== 'string' || !/^[1-5]$/.test(input.priority))
        throw usageError('BAD_SETTING', 'The {hint} of an ntfy notifier is 1 to 5 (the default depends on the event).', { field: 'priority' }, { option: 'priority' });
      priority = input.priority;
    }
    return { config: { authenticated: secrets.token !== undefined, priority }, secrets };
  },
  async send(settings, m, options) {
    const bad = m.event === 'failure' || m.event === 'drill';
    const warn = m.event === 'partial' || m.event === 'rpo';
    const headers: Record<string, string> = {
      'content-type': 'text/plain; charset=utf-8',
      title: ascii(m.title),
      priority: String(settings.config.priority ?? (bad ? '4' : warn ? '4' : '3')),
      tags: bad ? 'rotating_light,coffre' : warn ? 'warning,coffre' : 'white_check_mark,coffre',
    };
    if (m.links.journal) headers.click = m.links.journal;
    if (settings.secrets.token) headers.authorization = `Bearer ${settings.secrets.token}`;
    return postTo(settings.secrets.url, plainBody(m), headers, options.timeoutMs, 'ntfy notifier');
  },
  describe: (s: ChannelSettings) => `${displayUrl(s.secrets.url ?? '')}${s.config.authenticated ? ' (token)' : ''}`,
} satisfies Channel;
