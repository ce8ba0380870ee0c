// One schema, many uses: these zod schemas validate MCP tool arguments and REST bodies, describe the
// tools' outputSchema, and generate the OpenAPI document. The engine's own types derive from them.
import { z } from 'zod';
import { PERMISSION_MODES, TOOL_RULE_PATTERN } from './permission.js';
import { JOB_ID_PATTERN } from './ids.js';
import { pendingApprovalSchema } from '../approvals/schemas.js';
import { InvalidInput } from './errors.js';
import { LABEL_PATTERN, LABEL_RULE, MAX_JOB_LABELS } from './labels.js';

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled', 'timed_out', 'orphaned', 'unknown'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** Statuses a job never leaves on its own (orphaned can still be cancelled to tidy up). */
const ENDED_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled', 'timed_out', 'orphaned']);
/** Whether a job with this status has ended (see ENDED_STATUSES). */
export const isEnded = (status: JobStatus): boolean => ENDED_STATUSES.has(status);

const EFFORTS = ['low', 'medium', 'high', 'xhigh', 'max'] as const;

// Text hygiene. NUL cannot pass through argv (spawn fails) and control characters forge lines and
// terminal escapes wherever a value is shown again (claude_jobs text, logs, a terminal), so every
// string field refuses them: one-line fields all C0/C1 controls and Unicode line separators,
// free-text fields (prompt, system prompt) all but tab and line breaks.
const ONE_LINE = /^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$/;
const FREE_TEXT = /^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$/;
const NO_CONTROLS = 'must not contain NUL or control characters (escape sequences, line breaks)';
const NO_CONTROLS_TEXT = 'must not contain NUL or control characters other than tab and line breaks';
const oneLine = () => z.string().regex(ONE_LINE, NO_CONTROLS);
const freeText = () => z.string().regex(FREE_TEXT, NO_CONTROLS_TEXT);

// A tool rule is passed as its own argv word; it starts with a letter, so it is never an option.
const toolRule = z.string().min(1).max(300).regex(ONE_LINE, NO_CONTROLS)
  .regex(TOOL_RULE_PATTERN, 'one tool name or rule per item, such as "Edit" or "Bash(git log:*)" (a letter first; no commas)');

export const jobIdSchema = z.string().regex(JOB_ID_PATTERN, 'a job id as returned by claude_start').describe('The jobId returned by claude_start.');

export const startInputSchema = z.strictObject({
  prompt: freeText().min(1, 'prompt must not be empty').describe('The task for Claude Code, as you would type it. Sent on stdin, never on a command line.'),
  cwd: oneLine().min(1).max(4096).optional().describe('Working directory for the job; must be inside the server\'s allowed roots. Defaults to the server\'s default cwd.'),
  // A letter or digit first: `--model --dangerously-skip-permissions` must not be possible.
  model: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:[\]-]{0,99}$/, 'a model alias or name such as "sonnet" or "claude-opus-4-1"').optional().describe('Model alias or full name (e.g. "sonnet", "opus").'),
  effort: z.enum(EFFORTS).optional().describe('Reasoning effort level.'),
  permissionMode: z.enum(PERMISSION_MODES).optional().describe('Permission mode for the job, capped by the server\'s maximum.'),
  allowedTools: z.array(toolRule).max(100).optional().describe('Tools allowed without asking, e.g. ["Edit", "Bash(npm test:*)"].'),
  disallowedTools: z.array(toolRule).max(100).optional().describe('Tools denied, e.g. ["WebFetch"].'),
  maxTurns: z.number().int().min(1).max(10_000).optional().describe('Stop after this many agentic turns.'),
  maxBudgetUsd: z.number().positive().max(100_000).optional().describe('Stop after spending this many US dollars.'),
  appendSystemPrompt: freeText().max(32_768).optional().describe('Extra text appended to Claude Code\'s system prompt.'),
  resumeSessionId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{7,99}$/, 'a Claude session id (the sessionId of an earlier job)').optional()
    .describe('Continue the Claude session of an earlier job (its result.sessionId).'),
  timeoutSeconds: z.number().int().min(1).optional().describe('Stop the job after this many seconds (capped by the server\'s job timeout).'),
  title: oneLine().max(200).optional().describe('A short label shown in claude_jobs.'),
  labels: z.array(z.string().regex(LABEL_PATTERN, `a label: ${LABEL_RULE}`)).max(MAX_JOB_LABELS).optional()
    .describe('Run only on a host that carries every one of these labels (e.g. ["gpu"]). With several workers (CLAUDE_ASYNC_REDIS_URL) each worker names its labels; a start no live worker can take is refused at once. A single server carries the labels its operator set in CLAUDE_ASYNC_WORKER_LABELS.'),
  approvals: z.boolean().optional().describe('Ask the job\'s owner (claude_approve, REST, elicitation) before a tool the permission mode would refuse, instead of refusing it. Only when the server enables approvals.'),
});
export type StartInput = z.infer<typeof startInputSchema>;

export const startOutputSchema = z.object({
  jobId: z.string(),
  status: z.enum(JOB_STATUSES),
  createdAt: z.number().describe('ms since the epoch'),
});
export type StartOutput = z.infer<typeof startOutputSchema>;

export const resultSummarySchema = z.object({
  result: z.string().describe('Claude\'s final answer (or error text).'),
  sessionId: z.string().nullable().describe('Pass as resumeSessionId to continue this conversation.'),
  isError: z.boolean(),
  subtype: z.string().nullable(),
  costUsd: z.number().nullable(),
  numTurns: z.number().nullable(),
  durationMs: z.number().nullable(),
});
export type ResultSummary = z.infer<typeof resultSummarySchema>;

export const jobSummarySchema = z.object({
  jobId: z.string(),
  status: z.enum(JOB_STATUSES),
  statusReason: z.string().optional().describe('Why the job has this status, when that is not obvious.'),
  title: z.string().optional(),
  owner: z.string().describe('The principal that started the job: local, token:<name> or jwt:<issuer>|<sub> (a job from before principals were namespaced carries a bare name).'),
  cwd: z.string(),
  model: z.string().optional(),
  labels: z.array(z.string()).optional().describe('The labels the job asked for: it runs only on a host that carries all of them.'),
  createdAt: z.number(),
  startedAt: z.number().optional(),
  endedAt: z.number().optional(),
});
export type JobSummary = z.infer<typeof jobSummarySchema>;

export const checkInputSchema = z.strictObject({
  jobId: jobIdSchema,
  tailBytes: z.number().int().min(0).optional().describe('How much readable output to return (default 8000, capped by the server).'),
  offset: z.number().int().min(0).optional().describe('Read output from this byte offset of the log (pass the nextOffset of your last check to get only what is new).'),
});

export const checkOutputSchema = jobSummarySchema.extend({
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  tail: z.string().describe('Readable output: assistant text and one line per tool use.'),
  offset: z.number().describe('Log byte offset where the tail starts.'),
  nextOffset: z.number().describe('Pass as offset in the next check to read only new output.'),
  outputBytes: z.number().describe('Size of the raw log so far.'),
  hasMore: z.boolean().describe('True when output beyond nextOffset was already written.'),
  logCapped: z.boolean(),
  result: resultSummarySchema.optional().describe('Present once the job has ended with a result.'),
  pendingApprovals: z.array(pendingApprovalSchema).optional().describe('Questions the job waits on (approvals: true): answer each with claude_approve.'),
});
export type CheckOutput = z.infer<typeof checkOutputSchema>;

/** A job without its readable tail: what GET /v1/jobs/{jobId} and the MCP job resource show. */
export const jobViewSchema = checkOutputSchema.omit({ tail: true, offset: true, nextOffset: true, hasMore: true });
export type JobView = z.infer<typeof jobViewSchema>;

export const listInputSchema = z.strictObject({
  status: z.enum(JOB_STATUSES).optional().describe('Only jobs with this status.'),
  limit: z.number().int().min(1).max(200).optional().describe('Page size (default 20, max 200).'),
  cursor: z.string().regex(JOB_ID_PATTERN, 'a nextCursor from an earlier page').optional().describe('nextCursor of the previous page.'),
});
export type ListInput = z.infer<typeof listInputSchema>;

export const listOutputSchema = z.object({
  jobs: z.array(jobSummarySchema),
  nextCursor: z.string().optional().describe('Pass as cursor to get the next (older) page.'),
});
export type ListOutput = z.infer<typeof listOutputSchema>;

export const cancelOutputSchema = z.object({
  jobId: z.string(),
  status: z.enum(JOB_STATUSES),
  cancelled: z.boolean().describe('True only once the job is cancelled; false when it had already ended or the cancel has not taken effect (see detail).'),
  detail: z.string().optional().describe('What the cancel did when it did not cancel the job.'),
});
export type CancelOutput = z.infer<typeof cancelOutputSchema>;

/** Parses with a zod schema at a face; the first problem becomes an InvalidInput naming its field. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.join('.') || undefined;
  throw new InvalidInput(field ? `${field}: ${issue.message}` : issue.message, field);
}
