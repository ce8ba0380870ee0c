// Answering a job's approval question: once, by someone the service has already let see the job.
// The service checks who may see the job; this decides about the question itself.
import { JobConflict, ApprovalNotFound } from '../jobs/errors.js';
import { readAnswer, readPendingQuestions, readQuestion, writeAnswerOnce, type ApprovalAnswer } from './files.js';
import type { ApproveInput, ApproveOutput, PendingApproval } from './schemas.js';
import { shownInput } from './shown-input.js';

export async function pendingApprovals(jobDir: string): Promise<PendingApproval[]> {
  const questions = await readPendingQuestions(jobDir);
  return questions.map(({ approvalId, toolName, input, askedAt }) => ({ approvalId, toolName, ...shownInput(input), askedAt }));
}

export async function answerApproval(jobDir: string, request: ApproveInput, answeredBy: string, jobEnded: boolean): Promise<ApproveOutput> {
  const { jobId, approvalId, decision } = request;
  if (!(await readQuestion(jobDir, approvalId))) throw new ApprovalNotFound(jobId, approvalId);
  const earlier = await readAnswer(jobDir, approvalId);
  if (earlier) throw alreadyAnswered(approvalId, earlier);
  if (jobEnded) throw new JobConflict(`job ${jobId} has ended; its question ${approvalId} can no longer be answered`);
  const answer: ApprovalAnswer = {
    decision, answeredBy, answeredAt: Date.now(),
    ...(request.message !== undefined ? { message: request.message } : {}),
    ...(request.updatedInput !== undefined && decision === 'allow' ? { updatedInput: request.updatedInput } : {}),
  };
  if (!writeAnswerOnce(jobDir, approvalId, answer)) {
    throw alreadyAnswered(approvalId, await readAnswer(jobDir, approvalId));
  }
  return { jobId, approvalId, decision, answeredBy, answeredAt: answer.answeredAt };
}

function alreadyAnswered(approvalId: string, answer: ApprovalAnswer | null): JobConflict {
  const how = !answer ? '' : answer.timedOut
    ? ': nobody answered in time, so it was denied'
    : ` (${answer.decision} by ${answer.answeredBy} at ${new Date(answer.answeredAt).toISOString()})`;
  return new JobConflict(`approval ${approvalId} is already answered${how}; an approval is answered once`);
}
