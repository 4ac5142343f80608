// Runs the real `coffre` CLI as a child process (the Node running the tests, which is Node 24), each
// workspace with its own DATA_DIR in a fresh temporary folder, and none of the developer's coffre settings.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

// The installed command, as users run it: in CI (after npm ci's prepare) it runs the bundle of the sources
// (scripts/build-app.ts), else the sources (bin/app-bundle.js decides).
export const mainScript = path.resolve(import.meta.dirname, '../../bin/coffre.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON. */
  json<T = Record<string, unknown>>(): T;
  /** stdout and stderr together, to search for things that must never appear. */
  all: string;
}

export interface Workspace {
  dir: string;
  dataDir: string;
  env: NodeJS.ProcessEnv;
  /** Runs `coffre ARGS` to completion. */
  run(args: string[], extraEnv?: NodeJS.ProcessEnv): Promise<CliResult>;
  /** Starts `coffre ARGS` and returns the child (for signals). */
  start(args: string[], extraEnv?: NodeJS.ProcessEnv): ChildProcess;
  /** Every output seen so far, for secret checks. */
  transcript: string[];
  cleanup(): Promise<void>;
}

/** The environment of a `coffre` child: this process's, with DATA_DIR and none of the developer's coffre settings. */
export function cliEnv(dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir };
  for (const k of ['DATABASE_URL', 'ENCRYPTION_SECRET', 'BACKUP_ROOT', 'DEFAULT_COMPRESSION', 'COFFRE_DEBUG', 'NODE_TEST_CONTEXT', 'COFFRE_APP_BUNDLE']) delete env[k];
  return env;
}

/** A new workspace: a temporary folder with DATA_DIR inside. */
export async function workspace(prefix = 'coffre-cli-'): Promise<Workspace> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  const dataDir = path.join(dir, 'data');
  const env = cliEnv(dataDir);
  const transcript: string[] = [];
  const start = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    spawn(process.execPath, [mainScript, ...args], { cwd: dir, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
  const run = (args: string[], extraEnv: NodeJS.ProcessEnv = {}) =>
    new Promise<CliResult>((resolve, reject) => {
      const child = start(args, extraEnv);
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code, signal) => {
        transcript.push(stdout, stderr);
        resolve({
          code: code ?? (signal ? 128 : -1),
          stdout,
          stderr,
          all: stdout + stderr,
          json<T>() {
            try {
              return JSON.parse(stdout) as T;
            } catch {
              throw new Error(`coffre ${args.join(' ')} did not print JSON (exit ${code}):\n${stdout}\n${stderr}`);
            }
          },
        });
      });
    });
  return { dir, dataDir, env, run, start, transcript, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Fails with the command's output when its exit code is not the expected one. */
export function expectCode(r: CliResult, code: number, what: string): void {
  if (r.code !== code) throw new Error(`${what}: expected exit ${code}, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

/** The fields every backup journal row carries, in `backup --json`, `journal --json` and the API's journal. */
export const backupRowFields = [
  'id',
  'status',
  'kind',
  'plan',
  'target',
  'sizeBytes',
  'rawSizeBytes',
  'sha256',
  'artifact',
  'parentId',
  'startedAt',
  'finishedAt',
  'durationMs',
  'message',
] as const;
