// discord: a channel webhook (https://discord.com/api/webhooks/…): one embed with a colour per event and the
// facts as fields (Discord's limits: 25 fields, 256-character names, 1024-character values).

import type { Channel, ChannelSettings } from './channel.ts';
import { colourOf, factsOf } from './fields.ts';
import { checkHttpUrl, displayUrl, postTo, rejectUnknown } from './http.ts';

export const discord = {
  type: 'discord',
  configure(input) {
    rejectUnknown(input, ['url'], 'discord');
    return { config: {}, secrets: { url: checkHttpUrl(input.url, 'url', 'discord') } };
  },
  async send(settings, m, options) {
    const body = {
      username: 'coffre',
      allowed_mentions: { parse: [] },
      embeds: [
        {
          title: m.title.slice(0, 256),
          description: m.text.slice(0, 4000),
          color: colourOf(m),
          timestamp: m.at,
          fields: factsOf(m)
            .slice(0, 25)
            .map(([name, value]) => ({ name: name.slice(0, 256), value: value.slice(0, 1024), inline: value.length < 40 })),
        },
      ],
    };
    return postTo(settings.secrets.url, JSON.stringify(body), { 'content-type': 'application/json' }, options.timeoutMs, 'discord notifier');
  },
  describe: (s: ChannelSettings) => displayUrl(s.secrets.url ?? ''),
} satisfies Channel;
