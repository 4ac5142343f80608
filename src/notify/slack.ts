// slack: an incoming webhook (https://hooks.slack.com/services/…): `text` for notifications and clients
// without blocks, and one section block of mrkdwn with the facts.

import type { Channel, ChannelSettings } from './channel.ts';
import { factsOf } from './fields.ts';
import { checkHttpUrl, displayUrl, postTo, rejectUnknown } from './http.ts';

/** Slack's mrkdwn escapes: &, < and > only. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export const slack = {
  type: 'slack',
  configure(input) {
    rejectUnknown(input, ['url'], 'slack');
    return { config: {}, secrets: { url: checkHttpUrl(input.url, 'url', 'slack') } };
  },
  async send(settings, m, options) {
    const body = {
      text: m.title,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: m.title.slice(0, 150) } },
        { type: 'section', text: { type: 'mrkdwn', text: esc(m.text).slice(0, 3000) } },
        {
          type: 'section',
          fields: factsOf(m)
            .slice(0, 10)
            .map(([k, v]) => ({ type: 'mrkdwn', text: `*${esc(k)}*\n${esc(v)}`.slice(0, 2000) })),
        },
      ],
    };
    return postTo(settings.secrets.url, JSON.stringify(body), { 'content-type': 'application/json' }, options.timeoutMs, 'slack notifier');
  },
  describe: (s: ChannelSettings) => displayUrl(s.secrets.url ?? ''),
} satisfies Channel;
