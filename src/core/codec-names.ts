// The compression names: the one list the CompressionName union follows from. Each name's implementation
// is registered in src/codecs/index.ts and declares there what it is made of (its file extension, the magic
// bytes codecs/sniff.ts peels it by). The names stay apart from the implementations so that config.ts and
// the API's schemas can check a name without loading a codec.
// Adding a codec is its file, its name here, one registry line and its test.

export const compressionNames = ['gzip', 'zstd', 'zip', 'targz', 'none'] as const;

export type CompressionName = (typeof compressionNames)[number];

/** Other spellings accepted wherever a compression is named: `tar.gz` is the original API's own word for targz. */
export const compressionAliases: Readonly<Record<string, CompressionName>> = { 'tar.gz': 'targz' };

/** The canonical name for an alias (`tar.gz` -> `targz`); any other value as it is, for the caller to check. */
export function canonicalCompression(value: unknown): unknown {
  return typeof value === 'string' && Object.hasOwn(compressionAliases, value) ? compressionAliases[value] : value;
}
