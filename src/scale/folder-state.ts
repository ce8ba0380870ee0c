// What a job folder on this worker's disk says about the job now: the same facts and the same pure
// rules (status.ts) the local engine uses, turned into the entry, exit record and open questions
// (approvals/files.ts) a worker publishes.
import fs from 'node:fs';
import { pendingApprovals } from '../approvals/answer.js';
import type { PendingApproval } from '../approvals/schemas.js';
import { exitWithoutClaude } from '../jobs/claim.js';
import type { JobPaths } from '../jobs/layout.js';
import type { ExitRecord, JobSpecRecord } from '../jobs/records.js';
import { isEnded } from '../jobs/schemas.js';
import { deriveStatus, readJobFacts, type JobFacts } from '../jobs/status.js';
import { summaryFromSpec, type IndexEntry } from '../jobs/store.js';

export interface FolderState {
  status: IndexEntry['status'];
  entry: IndexEntry;
  exit: ExitRecord | null;
  outputBytes: number;
  /** The job's open questions (approvals); always empty once it has ended. */
  pendingApprovals: PendingApproval[];
}

export async function readFolderState(paths: JobPaths, spec: JobSpecRecord): Promise<FolderState> {
  let facts: JobFacts;
  try {
    facts = await readJobFacts(paths);
  } catch {
    facts = { spec: 'unreadable', runner: null, exit: null, runnerAlive: false };
  }
  const derived = deriveStatus(facts);
  const runner = facts.runner && facts.runner !== 'unreadable' ? facts.runner : null;
  const outStat = await fs.promises.stat(paths.out).catch(() => null);
  // A runner killed after claude's result: the result in the log stands in for the exit record
  // (as the local engine does); it ended when its log was last written.
  const exit = facts.exit && facts.exit !== 'unreadable' ? facts.exit
    : facts.logResult ? { ...exitWithoutClaude('exited'), result: facts.logResult, endedAt: Math.round(outStat?.mtimeMs ?? Date.now()), ...(runner?.startedAt ? { startedAt: runner.startedAt } : {}) } : null;
  const entry: IndexEntry = summaryFromSpec(spec, derived.status);
  if (derived.reason) entry.statusReason = derived.reason;
  const startedAt = exit?.startedAt ?? (runner?.claimedBy ? undefined : runner?.startedAt);
  if (startedAt) entry.startedAt = startedAt;
  if (exit) entry.endedAt = exit.endedAt;
  // Only a job started with approvals has questions: the others cost no folder read per poll.
  const asks = !isEnded(entry.status) && spec.args.includes('--permission-prompt-tool');
  const pending = asks ? await pendingApprovals(paths.dir).catch(() => []) : [];
  return { status: entry.status, entry, exit, outputBytes: outStat?.size ?? 0, pendingApprovals: pending };
}
