// The contract every notification channel (webhook, slack, discord, teams, ntfy, email) implements, and the
// message they all carry. A channel only formats and sends one message once: what to send, to whom, how
// often and how many times to try live elsewhere (services/notifications.ts and notify/retry.ts).

/** What a message is about. `recovered` follows a failure or an RPO breach; `test` is `coffre notify test`. */
export const notifyEvents = ['failure', 'partial', 'rpo', 'drill', 'success'] as const;
export type RuleEvent = (typeof notifyEvents)[number];
export type NotifyEvent = RuleEvent | 'recovered' | 'test';
/** The events a rule listens to when it names none. */
export const defaultRuleEvents: readonly RuleEvent[] = ['failure', 'partial', 'rpo', 'drill'];

/**
 * One notification, the same for every channel; the webhook channel posts it as it is (README, "The webhook
 * body"). Fields that do not apply are null.
 */
export interface NotificationMessage {
  /** The body's format version; a change that removes or renames a field bumps it. */
  version: 1;
  event: NotifyEvent;
  /** One line, e.g. "coffre: backup of plan nightly FAILED". */
  title: string;
  /** A few lines of plain text: what happened and what to do. */
  text: string;
  plan: string | null;
  target: string | null;
  /** The run's status (success, partial, failed, interrupted) or, for rpo/recovered, the plan's health. */
  status: string | null;
  /** The journal row the event is about. */
  journalId: string | null;
  kind: string | null;
  sizeBytes: number | null;
  rawSizeBytes: number | null;
  durationMs: number | null;
  /** The run's own message (redacted), or the RPO's explanation. */
  message: string | null;
  /** For rpo: the plan's RPO and the age of its latest successful backup, in seconds. */
  rpoSeconds: number | null;
  lastSuccessAt: string | null;
  /** ISO time of the event. */
  at: string;
  /** Links into the API when PUBLIC_URL is set: {journal, plan}. */
  links: Record<string, string>;
}

/** A message about `event` with every field that depends on a run or plan null, for the caller to fill. */
export function blankMessage(event: NotifyEvent, title: string, text: string, at: string, links: Record<string, string> = {}): NotificationMessage {
  return {
    version: 1,
    event,
    title,
    text,
    plan: null,
    target: null,
    status: null,
    journalId: null,
    kind: null,
    sizeBytes: null,
    rawSizeBytes: null,
    durationMs: null,
    message: null,
    rpoSeconds: null,
    lastSuccessAt: null,
    at,
    links,
  };
}

/** A channel's settings: `config` is shown to users, `secrets` (URLs with tokens, passwords) is sealed in the catalog. */
export interface ChannelSettings {
  config: Record<string, unknown>;
  secrets: Record<string, string>;
}

export interface SendOptions {
  /** Each attempt gives up after this long (NOTIFY_TIMEOUT_SECONDS). */
  timeoutMs: number;
  /** An id unique to this delivery, sent where the far side can use it to drop duplicates. */
  deliveryId: string;
}

/** What the far side answered, in a few words ("HTTP 200", "250 OK: queued as X"). */
export interface SendResult {
  answer: string;
}

export interface Channel {
  /** The name under which the channel is registered (`--type`). */
  readonly type: string;
  /**
   * Checks a channel's settings (CLI flags in camelCase, or the API body) and splits off the secret ones.
   * Throws a usage error naming the setting when one is missing or wrong; never echoes a secret value.
   */
  configure(input: Record<string, unknown>): ChannelSettings;
  /**
   * Sends one message, once. Throws a CoffreError whose `retryable` says whether trying again may help (a
   * network error, a timeout, a 5xx or 429 answer) or not (any other 4xx, a refused login); its message names
   * the far side's answer and never a secret.
   */
  send(settings: ChannelSettings, message: NotificationMessage, options: SendOptions): Promise<SendResult>;
  /** A secret-free one-line description of where messages go ("https://hooks.slack.com/***"). */
  describe(settings: ChannelSettings): string;
}
