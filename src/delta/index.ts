// The delta format's public surface: encode a raw dump against its parent, decode one delta, rebuild a
// chain. The format is specified in docs/delta-format.md.

export { createDeltaEncoder, type DeltaEncoder, type DeltaEncoderOptions, type DeltaEncodeStats } from './encoder.ts';
export { createDeltaDecoder, type DeltaDecoderOptions } from './decoder.ts';
export { applyChain, type ChainOptions } from './chain.ts';
export { DELTA_MAGIC, DELTA_VERSION } from './format.ts';
