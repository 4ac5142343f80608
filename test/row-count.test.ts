// The row counters read off a SQL dump's raw stream (pipeline/row-count.ts), fed the same dump in one chunk
// and one byte at a time: quotes holding parentheses, semicolons, escaped quotes and newlines, both INSERT
// layouts of mariadb-dump, COPY blocks (empty ones too) and quoted names.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRowCounter, copyTarget } from '../src/pipeline/row-count.ts';

function countIn(engine: 'postgres' | 'mysql', text: string, chunk: number) {
  const counter = createRowCounter('sql', engine)!;
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i += chunk) counter.update(bytes.subarray(i, i + chunk));
  return counter.result();
}

const pgDump = [
  'SET statement_timeout = 0;',
  'COPY "public"."items" ("id", "label") FROM stdin;',
  '1\tCOPY x FROM stdin;',
  '2\t\\\\.',
  '3\tline\\nbreak 😀',
  '\\.',
  '',
  'COPY "odd schema"."we""ird table" ("col umn") FROM stdin;',
  '\\.',
  'COPY "public"."one col" ("t") FROM stdin;',
  '',
  '\\.',
  'SELECT 1;',
  '',
].join('\n');

const myDump = [
  'CREATE TABLE `empty` (',
  '  `a` int',
  ');',
  '/*!50001 CREATE VIEW `v` AS SELECT 1 */;',
  "INSERT INTO `t` VALUES (1,'a(b),(c);'),(2,'it\\'s \\\\'),(3,\"dq ) ( \\\" \"),(4,0x28293B);",
  'INSERT INTO `t` VALUES (5,NULL);',
  'INSERT INTO `odd ``n`` x` VALUES',
  "(1,'x\\n;'),",
  '(2,"y");',
  '',
].join('\n');

for (const chunk of [1, 3, 7, 1 << 20]) {
  test(`COPY rows counted in chunks of ${chunk} bytes`, () => {
    assert.deepEqual(countIn('postgres', pgDump, chunk), { method: 'copy-rows', tables: { 'public.items': 3, 'odd schema.we"ird table': 0, 'public.one col': 1 } });
  });
  test(`INSERT tuples counted in chunks of ${chunk} bytes`, () => {
    assert.deepEqual(countIn('mysql', myDump, chunk), { method: 'insert-tuples', tables: { empty: 0, t: 5, 'odd `n` x': 2 } });
  });
}

test('copyTarget reads quoted and plain names, and nothing else', () => {
  assert.equal(copyTarget('COPY "a"."b" ("x") FROM stdin;'), 'a.b');
  assert.equal(copyTarget('COPY public.t FROM stdin;'), 'public.t');
  assert.equal(copyTarget('COPY "a"."b" TO stdout;'), undefined);
  assert.equal(copyTarget('SELECT 1;'), undefined);
});
