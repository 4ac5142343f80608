// `npm run bench`: the benchmarks that print coffre's figures against the raw tools. For now, the full
// PostgreSQL backup (bench/backup-postgres.ts); BENCH_ROWS and BENCH_RUNS make a quicker run. A benchmark
// reports goals as PASS/FAIL lines but exits 0 either way; it exits 1 only when it could not run.

import { benchBackupPostgres, optionsFromEnv } from './backup-postgres.ts';
import { benchIncremental } from './incremental.ts';

try {
  await benchBackupPostgres(optionsFromEnv());
  if (process.env.BENCH_SKIP_INCREMENTAL !== '1') await benchIncremental(); // differential/incremental (issue 5)
} catch (err) {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
}
