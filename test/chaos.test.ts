/**
 * The chaos benchmark (bench/chaos.ts) in small: 60 ingests through a real server and two real
 * workers while workers and the server are killed with SIGKILL, every connection is terminated
 * and Chroma goes away for a while. Nothing acknowledged may be lost or stored twice, and every
 * job orphaned by a killed worker must run again to DONE. `npm run chaos` runs 10,000.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runChaos } from '../bench/chaos.js';

test('chaos in small: 0 lost, 0 duplicated, every orphaned job done again', async () => {
  const report = await runChaos({ jobs: 60, workers: 2, concurrency: 4, faults: 6 });
  assert.equal(report.acknowledged, 60, 'every ingest was acknowledged in the end');
  assert.equal(report.lost, 0);
  assert.equal(report.duplicatedRevisions, 0);
  assert.equal(report.duplicatedEvents, 0);
  assert.equal(report.failedJobs, 0);
  assert.ok(report.orphanedJobs >= 2, `${report.orphanedJobs} orphaned jobs`);
  assert.equal(report.orphanedJobsDone, report.orphanedJobs);
  for (const [fault, count] of Object.entries(report.faults)) assert.ok(count >= 1, `${fault} happened`);
});
