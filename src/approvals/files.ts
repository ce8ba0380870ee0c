// A job's approval questions and answers on disk, in <jobDir>/approvals/. The question is written
// by the approval server (a child of claude, so it outlives any server restart); the answer is
// created exactly once by whoever answers first (a person, or the approval server's timeout):
// link(2) makes a second answer fail instead of replacing the first.
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createFileExclusiveSync, writeFileAtomic } from '../files/atomic.js';

const APPROVALS_DIR = 'approvals';
export const APPROVAL_ID_PATTERN = /^ap-[0-9a-f]{16}$/;

interface ApprovalQuestion {
  approvalId: string;
  toolName: string;
  input: Record<string, unknown>;
  toolUseId: string | null;
  askedAt: number;
}

export type ApprovalDecision = 'allow' | 'deny';

export interface ApprovalAnswer {
  decision: ApprovalDecision;
  message?: string;
  updatedInput?: Record<string, unknown>;
  /** The principal who answered, or null when nobody did and the timeout denied. */
  answeredBy: string | null;
  answeredAt: number;
  timedOut?: true;
}

export const newApprovalId = (): string => `ap-${randomBytes(8).toString('hex')}`;
const isApprovalId = (id: string): boolean => APPROVAL_ID_PATTERN.test(id);

function approvalsDir(jobDir: string): string {
  return path.join(jobDir, APPROVALS_DIR);
}

function questionFile(jobDir: string, approvalId: string): string {
  if (!isApprovalId(approvalId)) throw new Error(`not an approval id: ${approvalId}`);
  return path.join(approvalsDir(jobDir), `${approvalId}.question.json`);
}

function answerFile(jobDir: string, approvalId: string): string {
  if (!isApprovalId(approvalId)) throw new Error(`not an approval id: ${approvalId}`);
  return path.join(approvalsDir(jobDir), `${approvalId}.answer.json`);
}

export async function writeQuestion(jobDir: string, question: ApprovalQuestion): Promise<void> {
  await fs.promises.mkdir(approvalsDir(jobDir), { recursive: true, mode: 0o700 });
  await writeFileAtomic(questionFile(jobDir, question.approvalId), JSON.stringify(question));
}

/** Records the answer unless there is one already; false when someone answered first. */
export function writeAnswerOnce(jobDir: string, approvalId: string, answer: ApprovalAnswer): boolean {
  return createFileExclusiveSync(answerFile(jobDir, approvalId), JSON.stringify(answer));
}

async function readJson<T>(file: string): Promise<T | null> {
  try {
    return JSON.parse(await fs.promises.readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export function readQuestion(jobDir: string, approvalId: string): Promise<ApprovalQuestion | null> {
  return readJson<ApprovalQuestion>(questionFile(jobDir, approvalId));
}

export function readAnswer(jobDir: string, approvalId: string): Promise<ApprovalAnswer | null> {
  return readJson<ApprovalAnswer>(answerFile(jobDir, approvalId));
}

/** Questions without an answer, oldest first. A job without approvals has no folder: none. */
export async function readPendingQuestions(jobDir: string): Promise<ApprovalQuestion[]> {
  let names: string[];
  try {
    names = await fs.promises.readdir(approvalsDir(jobDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const answered = new Set(names.filter((n) => n.endsWith('.answer.json')).map((n) => n.slice(0, -'.answer.json'.length)));
  const open = names.filter((n) => n.endsWith('.question.json')).map((n) => n.slice(0, -'.question.json'.length))
    .filter((id) => isApprovalId(id) && !answered.has(id));
  const questions = await Promise.all(open.map((id) => readQuestion(jobDir, id).catch(() => null)));
  return questions.filter((q): q is ApprovalQuestion => q !== null).sort((a, b) => a.askedAt - b.askedAt);
}
