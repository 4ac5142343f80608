// Azure Blob Storage through @azure/storage-blob. Uploads are block uploads we drive ourselves: the stream is
// cut into BLOCK_SIZE blocks, at most CONCURRENCY staged at a time (bounded memory), each with its MD5 as
// transactionalContentMD5 so the service checks every block it receives. The blob becomes visible only when
// the block list is committed, which happens only after the whole input ended cleanly and every block was
// staged: a failing input or a cut connection leaves only uncommitted blocks, which are invisible and
// discarded by the service. The commit carries the whole stream's MD5 (blobContentMD5); the blob's size and
// MD5 are then read back and compared with ours.

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BlobServiceClient, ContainerClient, StorageSharedKeyCredential, type StoragePipelineOptions } from '@azure/storage-blob';
import type { DestinationSettings, GetRange, ObjectInfo, PutResult, Storage, StorageBackend } from '../core/types.ts';
import { asCoffreError, usageError } from '../core/errors.ts';
import { registerSecret } from '../core/redact.ts';
import { UploadMeter, checkBucketName, checkKey, integrityError, normalizePrefix, requireSetting, settingString, toStorageError, type ErrorContext } from './object-store.ts';
import { namedVariable } from '../config.ts';

/** Bytes per block; memory in flight is about BLOCK_SIZE * (CONCURRENCY + 1). 50,000 blocks make 400 GiB. */
export const BLOCK_SIZE = 8 * 1024 * 1024;
const CONCURRENCY = 2;

interface AzureConfig {
  container: string;
  prefix: string;
  accountName?: string;
  /** Blob service URL for account-key access, e.g. http://127.0.0.1:10000/devstoreaccount1 (default: the public cloud). */
  endpoint?: string;
}

/** Cuts a byte stream into buffers of exactly `size` bytes, the last one holding the rest. */
async function* blocksOf(source: AsyncIterable<Buffer>, size: number): AsyncGenerator<Buffer> {
  let chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of source) {
    chunks.push(chunk);
    length += chunk.length;
    while (length >= size) {
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
      yield all.subarray(0, size);
      chunks = [all.subarray(size)];
      length -= size;
    }
  }
  if (length > 0) yield Buffer.concat(chunks);
}

function openContainer(cfg: AzureConfig, secrets: Record<string, string>): { container: ContainerClient; credential: string } {
  const options: StoragePipelineOptions = { retryOptions: { maxTries: 3 } };
  if (secrets.connectionString) {
    return { container: BlobServiceClient.fromConnectionString(secrets.connectionString, options).getContainerClient(cfg.container), credential: 'connectionString' };
  }
  if (secrets.accountKey) {
    const account = cfg.accountName!;
    const url = cfg.endpoint ?? `https://${account}.blob.core.windows.net`;
    return {
      container: new BlobServiceClient(url, new StorageSharedKeyCredential(account, secrets.accountKey), options).getContainerClient(cfg.container),
      credential: 'accountName/accountKey',
    };
  }
  const sasUrl = new URL(secrets.sasUrl);
  const last = sasUrl.pathname.replace(/\/+$/, '').split('/').pop();
  const container =
    last === cfg.container ? new ContainerClient(secrets.sasUrl, undefined, options) : new BlobServiceClient(secrets.sasUrl, undefined, options).getContainerClient(cfg.container);
  return { container, credential: 'sasUrl (its signature may be wrong or expired)' };
}

function openAzure(settings: DestinationSettings): Storage {
  const cfg = settings.config as unknown as AzureConfig;
  for (const s of Object.values(settings.secrets)) registerSecret(s);
  const { container, credential } = openContainer(cfg, settings.secrets);
  const name = (key: string) => cfg.prefix + checkKey(key);
  const ctx = (op: string, key?: string): ErrorContext => ({ type: 'azure', op, key, bucket: cfg.container, credential: () => credential });

  return {
    type: 'azure',

    async put(key: string, input: Readable, signal?: AbortSignal): Promise<PutResult> {
      const blob = container.getBlockBlobClient(name(key));
      const meter = new UploadMeter();
      let inputError: unknown;
      input.once('error', (err) => {
        inputError ??= err;
      });
      const feeding = pipeline(input, meter).catch(() => {});
      const abort = new AbortController();
      const onAbort = () => abort.abort();
      signal?.addEventListener('abort', onAbort, { once: true });
      // Same-length block ids, unique to this upload: uncommitted blocks of another upload never mix in.
      const uploadTag = randomBytes(6).toString('hex');
      const ids: string[] = [];
      const inflight = new Set<Promise<void>>();
      let failed: unknown;
      try {
        if (signal?.aborted) throw signal.reason;
        for await (const block of blocksOf(meter, BLOCK_SIZE)) {
          if (failed !== undefined) break;
          const id = Buffer.from(`${uploadTag}-${String(ids.length).padStart(6, '0')}`).toString('base64');
          ids.push(id);
          const md5 = createHash('md5').update(block).digest();
          const staged: Promise<void> = blob
            .stageBlock(id, block, block.length, { transactionalContentMD5: md5, abortSignal: abort.signal })
            .then(
              () => {},
              (err) => {
                failed ??= err;
                abort.abort();
              },
            )
            .finally(() => inflight.delete(staged));
          inflight.add(staged);
          while (inflight.size >= CONCURRENCY) await Promise.race(inflight);
        }
        await Promise.all(inflight);
        if (failed !== undefined) throw failed;
        if (abort.signal.aborted) throw signal?.reason ?? Object.assign(new Error('aborted'), { name: 'AbortError' });
        await feeding;
        await blob.commitBlockList(ids, { blobHTTPHeaders: { blobContentType: 'application/octet-stream', blobContentMD5: meter.md5 }, abortSignal: abort.signal });
      } catch (err) {
        abort.abort();
        meter.destroy();
        await Promise.allSettled(inflight);
        await feeding;
        if (inputError !== undefined) throw asCoffreError(inputError, 'INPUT_FAILED');
        throw toStorageError(err, ctx('upload', key));
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }

      let props;
      try {
        props = await blob.getProperties();
      } catch (err) {
        throw toStorageError(err, ctx('upload check', key));
      }
      const size = props.contentLength ?? -1;
      const stored = props.contentMD5 ? Buffer.from(props.contentMD5) : undefined;
      if (size !== meter.bytes || !stored || !stored.equals(meter.md5)) {
        await blob.deleteIfExists().catch(() => {});
        throw integrityError('azure', key, size !== meter.bytes ? `${meter.bytes} bytes sent, ${size} stored` : 'the MD5 differs');
      }
      return { size, sha256: meter.sha256, checksum: `md5:${meter.md5.toString('hex')}` };
    },

    async get(key: string, range?: GetRange): Promise<Readable> {
      if (range && (!Number.isSafeInteger(range.start) || range.start < 0 || (range.end !== undefined && range.end < range.start))) {
        throw usageError('STORAGE_BAD_RANGE', `Invalid byte range ${range.start}-${range.end ?? ''}: start must be >= 0 and end >= start.`);
      }
      try {
        const offset = range?.start ?? 0;
        const count = range?.end !== undefined ? range.end - range.start + 1 : undefined;
        const res = await container.getBlobClient(name(key)).download(offset, count, { maxRetryRequests: 3 });
        return res.readableStreamBody as Readable;
      } catch (err) {
        throw toStorageError(err, ctx('download', key));
      }
    },

    async stat(key: string): Promise<ObjectInfo | undefined> {
      try {
        const props = await container.getBlobClient(name(key)).getProperties();
        return { key, size: props.contentLength ?? 0, modified: props.lastModified };
      } catch (err) {
        const e = toStorageError(err, ctx('stat', key));
        if (e.kind === 'not_found') return undefined;
        throw e;
      }
    },

    async *list(prefix: string): AsyncIterable<ObjectInfo> {
      try {
        for await (const item of container.listBlobsFlat({ prefix: cfg.prefix + prefix })) {
          if (!item.name.startsWith(cfg.prefix)) continue;
          yield { key: item.name.slice(cfg.prefix.length), size: item.properties.contentLength ?? 0, modified: item.properties.lastModified };
        }
      } catch (err) {
        throw toStorageError(err, ctx('list'));
      }
    },

    async delete(key: string): Promise<void> {
      try {
        await container.getBlobClient(name(key)).deleteIfExists();
      } catch (err) {
        throw toStorageError(err, ctx('delete', key));
      }
    },

    async check(): Promise<void> {
      try {
        if (!(await container.exists())) throw toStorageError({ name: 'ContainerNotFound' }, ctx('check'));
        const probe = container.getBlockBlobClient(`${cfg.prefix}.coffre-check-${randomUUID()}`);
        await probe.upload('coffre', 6);
        await probe.deleteIfExists();
      } catch (err) {
        throw toStorageError(err, ctx('check'));
      }
    },
  } satisfies Storage;
}

export const azure = {
  type: 'azure',

  configure(input: Record<string, unknown>): DestinationSettings {
    const container = checkBucketName(
      requireSetting(settingString(input, 'container', ['AZURE_STORAGE_CONTAINER']), 'container', 'azure', 'give --container or set AZURE_STORAGE_CONTAINER.'),
      'container',
    );
    const endpoint = settingString(input, 'endpoint');
    if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) {
      throw usageError('BAD_DESTINATION', `Destination field "endpoint" ("${endpoint}") must be an http(s) URL of the blob service.`, { field: 'endpoint' });
    }
    // One way in: what the user gave wins over the environment; the environment is read only when nothing is given.
    const given = (field: string) => settingString(input, field);
    let connectionString = given('connectionString');
    let accountKey = given('accountKey');
    let sasUrl = given('sasUrl');
    let accountName = given('accountName');
    if (!connectionString && !accountKey && !sasUrl) {
      connectionString = namedVariable('AZURE_STORAGE_CONNECTION_STRING') || undefined;
      if (!connectionString && namedVariable('AZURE_STORAGE_KEY')) {
        accountKey = namedVariable('AZURE_STORAGE_KEY');
        accountName ??= namedVariable('AZURE_STORAGE_ACCOUNT') || undefined;
      }
      if (!connectionString && !accountKey) sasUrl = namedVariable('AZURE_STORAGE_SAS_URL') || undefined;
    }
    const ways = [connectionString, accountKey, sasUrl].filter(Boolean).length;
    if (ways !== 1) {
      throw usageError(
        'BAD_DESTINATION',
        ways === 0
          ? 'An azure destination needs credentials: connectionString, or accountName with accountKey, or sasUrl (or AZURE_STORAGE_CONNECTION_STRING).'
          : 'An azure destination takes one of connectionString, accountKey or sasUrl, not several.',
        { field: 'connectionString' },
      );
    }
    if (accountKey && !accountName) throw usageError('BAD_DESTINATION', 'An azure destination with accountKey needs accountName too.', { field: 'accountName' });
    if (sasUrl && !/^https?:\/\/[^/]+.*\?.*sig=/.test(sasUrl)) {
      throw usageError('BAD_DESTINATION', 'Destination field "sasUrl" must be a blob service or container URL carrying a SAS (with a sig= parameter).', { field: 'sasUrl' });
    }
    const secrets: Record<string, string> = {};
    if (connectionString) secrets.connectionString = connectionString;
    if (accountKey) secrets.accountKey = accountKey;
    if (sasUrl) secrets.sasUrl = sasUrl;
    for (const s of Object.values(secrets)) registerSecret(s);
    const config: AzureConfig = { container, prefix: normalizePrefix(settingString(input, 'prefix')), accountName, endpoint };
    return { config: { ...config } as Record<string, unknown>, secrets };
  },

  open: openAzure,
} satisfies StorageBackend;
