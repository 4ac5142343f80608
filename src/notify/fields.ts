// The facts of a message as (label, value) pairs, in one order, so every chat channel shows the same thing.

import { formatSize } from '../core/sizes.ts';
import type { NotificationMessage } from './channel.ts';

function bytes(n: number | null): string | null {
  return n === null ? null : formatSize(n);
}

function seconds(ms: number | null): string | null {
  return ms === null ? null : `${(ms / 1000).toFixed(1)} s`;
}

/** The message's facts that are set, labelled. */
export function factsOf(m: NotificationMessage): Array<[string, string]> {
  const facts: Array<[string, string | null]> = [
    ['Plan', m.plan],
    ['Target', m.target],
    ['Status', m.status],
    ['Journal id', m.journalId],
    ['Kind', m.kind],
    ['Size', bytes(m.sizeBytes)],
    ['Raw size', bytes(m.rawSizeBytes)],
    ['Duration', seconds(m.durationMs)],
    ['RPO', m.rpoSeconds === null ? null : `${m.rpoSeconds} s`],
    ['Last success', m.lastSuccessAt],
    ['Message', m.message],
    ...Object.entries(m.links).map(([k, v]): [string, string] => [`Link (${k})`, v]),
  ];
  return facts.filter((f): f is [string, string] => f[1] !== null && f[1] !== '');
}

/** Plain-text body: the text, then one "Label: value" line per fact. */
export function plainBody(m: NotificationMessage): string {
  return `${m.text}\n\n${factsOf(m)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n')}\n`;
}

/** A colour per event for channels that show one (hex RGB). */
export function colourOf(m: NotificationMessage): number {
  switch (m.event) {
    case 'failure':
    case 'drill':
      return 0xd32f2f;
    case 'partial':
    case 'rpo':
      return 0xf57c00;
    case 'success':
    case 'recovered':
      return 0x388e3c;
    default:
      return 0x1976d2;
  }
}
