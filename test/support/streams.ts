// Reading what a stream gives in tests.

import { PassThrough } from 'node:stream';

/** All the bytes a stream gives, as one Buffer (for the small outputs tests compare). */
export async function collect(stream: NodeJS.ReadableStream | AsyncIterable<Uint8Array | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** A stream that gives `bytes` and ends (what an engine's restore reads). */
export function streamOf(bytes: Buffer | string): PassThrough {
  const s = new PassThrough();
  s.end(bytes);
  return s;
}
