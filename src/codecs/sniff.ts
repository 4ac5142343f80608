// PLACEHOLDER: replaced by the real format sniffer.
import type { Readable } from 'node:stream';
import type { CompressionName, RawFormat } from '../core/types.ts';

export interface OpenedDump {
  /** What the raw bytes are, once every compression layer is peeled. */
  format: RawFormat;
  /** The raw dump bytes. */
  stream: Readable;
  /** Compression layers found, outermost first (e.g. ["gzip"] or ["targz"]); empty for a raw dump. */
  layers: CompressionName[];
}

/** Peels compression layers by their magic bytes (never by file name) and tells what the raw dump is. */
export async function openDump(input: Readable): Promise<OpenedDump> {
  return { format: 'sql', stream: input, layers: [] };
}
