// The S3-protocol test server of scripts/storage-servers.sh (SeaweedFS, or s3rver as its fallback): which
// one runs, where, the credentials it takes, an admin client and bucket clean-up.

import { readFileSync } from 'node:fs';
import { S3Client, ListMultipartUploadsCommand, AbortMultipartUploadCommand, ListObjectsV2Command, DeleteObjectCommand, DeleteBucketCommand } from '@aws-sdk/client-s3';

const STATE = process.env.COFFRE_TEST_STATE ?? '/tmp/coffre-test-services';

/** The test server's port on 127.0.0.1. */
export const s3Port = Number(process.env.COFFRE_S3_PORT ?? 8333);

/** `http://127.0.0.1:PORT` (the test server's port unless another, e.g. a proxy's, is given). */
export const s3Endpoint = (port = s3Port): string => `http://127.0.0.1:${port}`;

/** Which server storage-servers.sh started: `seaweedfs` or `s3rver` (written in its state folder). */
export const s3Server: string = (() => {
  try {
    return readFileSync(`${STATE}/s3-server`, 'utf8').trim();
  } catch {
    return 'seaweedfs';
  }
})();

/** The credentials that server accepts. */
export const s3Creds: Readonly<{ accessKeyId: string; secretAccessKey: string }> = Object.freeze(
  s3Server === 's3rver' ? { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } : { accessKeyId: 'coffre-test-key', secretAccessKey: 'coffre-test-secret' },
);

/**
 * `destination add NAME` flags of an s3 destination on the test server (or a proxy's port; plain http allowed), its credentials
 * read from the environment variables T_S3_KEY_ID and T_S3_SECRET (see s3CredentialEnv).
 */
export function s3DestinationFlags(bucket: string, prefix?: string, port = s3Port): string[] {
  return [
    '--type',
    's3',
    '--bucket',
    bucket,
    ...(prefix === undefined ? [] : ['--prefix', prefix]),
    '--endpoint',
    s3Endpoint(port),
    '--allow-http',
    '--access-key-id-env',
    'T_S3_KEY_ID',
    '--secret-access-key-env',
    'T_S3_SECRET',
  ];
}

/** The environment s3DestinationFlags' destinations read their credentials from. */
export const s3CredentialEnv = { T_S3_KEY_ID: s3Creds.accessKeyId, T_S3_SECRET: s3Creds.secretAccessKey };

/** A client of the test server for the test's own set-up and checks (not coffre's). */
export function s3AdminClient(): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint: s3Endpoint(), forcePathStyle: true, credentials: { ...s3Creds } }); // the SDK writes into the object it is given
}

/** Aborts the bucket's unfinished multipart uploads and deletes every object in it (all pages). */
export async function emptyBucket(admin: S3Client, bucket: string): Promise<void> {
  const uploads = await admin.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
  for (const u of uploads.Uploads ?? []) await admin.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
  let token: string | undefined;
  do {
    const page = await admin.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) await admin.send(new DeleteObjectCommand({ Bucket: bucket, Key: o.Key }));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/** Empties the bucket (see emptyBucket), then deletes it. */
export async function removeBucket(admin: S3Client, bucket: string): Promise<void> {
  await emptyBucket(admin, bucket);
  await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
}
