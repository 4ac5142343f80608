// teams: a Microsoft Teams incoming webhook (a Workflows "post to a channel when a webhook request is
// received" URL, or a legacy connector): a message with one Adaptive Card holding the title, the text and the
// facts as a FactSet.

import type { Channel, ChannelSettings } from './channel.ts';
import { factsOf } from './fields.ts';
import { checkHttpUrl, displayUrl, postTo, rejectUnknown } from './http.ts';

export const teams = {
  type: 'teams',
  configure(input) {
    rejectUnknown(input, ['url'], 'teams');
    return { config: {}, secrets: { url: checkHttpUrl(input.url, 'url', 'teams') } };
  },
  async send(settings, m, options) {
    const attention = m.event === 'failure' || m.event === 'drill' ? 'attention' : m.event === 'partial' || m.event === 'rpo' ? 'warning' : 'good';
    const body = {
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: '1.4',
            body: [
              { type: 'TextBlock', size: 'Medium', weight: 'Bolder', text: m.title, wrap: true, color: attention },
              { type: 'TextBlock', text: m.text, wrap: true },
              { type: 'FactSet', facts: factsOf(m).map(([title, value]) => ({ title, value })) },
            ],
          },
        },
      ],
    };
    return postTo(settings.secrets.url, JSON.stringify(body), { 'content-type': 'application/json' }, options.timeoutMs, 'teams notifier');
  },
  describe: (s: ChannelSettings) => displayUrl(s.secrets.url ?? ''),
} satisfies Channel;
