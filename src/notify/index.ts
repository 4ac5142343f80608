// The registry of notification channels: type name -> implementation. A new channel is its file, one line
// here, and its test (test/notify-channels.test.ts runs the shared contract against a real receiver).

import { Registry } from '../core/registry.ts';
import type { Channel } from './channel.ts';
import { webhook } from './webhook.ts';
import { slack } from './slack.ts';
import { discord } from './discord.ts';
import { teams } from './teams.ts';
import { ntfy } from './ntfy.ts';
import { email } from './email.ts';

export const channels = new Registry<Channel>('notifier type')
  .register(webhook.type, webhook)
  .register(slack.type, slack)
  .register(discord.type, discord)
  .register(teams.type, teams)
  .register(ntfy.type, ntfy)
  .register(email.type, email);
