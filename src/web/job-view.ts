// One job: its status and times, the questions it waits on (approvals), its output drawn live from
// /events, and what can be done with it (cancel, continue the session, download the raw log).
import { ApiError } from './api.js';
import { ApprovalsPanel } from './approvals-view.js';
import { canWrite, every, type ViewContext } from './context.js';
import { h, replaceChildren } from './dom.js';
import { followJob } from './events.js';
import { inert, runTime, time } from './format.js';
import { statusBadge } from './list-view.js';
import { Transcript } from './transcript.js';
import { ENDED, type Job } from './types.js';

export async function renderJob(ctx: ViewContext, jobId: string): Promise<void> {
  const heading = h('h1', { tabindex: -1 }, 'Job');
  replaceChildren(ctx.main, heading, h('p', { class: 'meta' }, 'Loading…'));
  let job: Job;
  try {
    job = await ctx.api.job(jobId);
  } catch (error) {
    if (ctx.signal.aborted) return;
    const notFound = error instanceof ApiError && (error.status === 404 || error.status === 400);
    replaceChildren(ctx.main,
      h('h1', { tabindex: -1 }, notFound ? 'Job not found' : 'Could not load the job'),
      h('p', { class: 'error', role: 'alert' }, inert((error as Error).message)),
      h('p', {}, h('a', { href: '#/' }, 'Back to the jobs')));
    ctx.main.querySelector('h1')?.focus();
    return;
  }
  if (ctx.signal.aborted) return;

  const transcript = new Transcript();
  const facts = h('dl', { class: 'facts job-facts' });
  const badge = h('span', { class: 'badge-slot' });
  const live = h('span', { class: 'live', role: 'status' });
  const actionError = h('p', { class: 'error', role: 'alert', hidden: true });
  const cancel = h('button', { type: 'button', class: 'danger', hidden: true }, 'Cancel job');
  const resume = h('a', { class: 'button', href: `#/new?resume=${encodeURIComponent(jobId)}`, hidden: true }, 'Continue');
  const download = h('button', { type: 'button' }, 'Download raw log');
  const approvals = new ApprovalsPanel({ api: ctx.api, jobId, canAnswer: canWrite(ctx.info), announce: ctx.announce });

  /** @param fresh next was just read from the server (not the ticking redraw of the last read) */
  const show = (next: Job, fresh = true) => {
    job = next;
    heading.textContent = inert(job.title?.trim() || `Job ${job.jobId}`);
    replaceChildren(badge, statusBadge(job.status));
    const fact = (label: string, value: string) => h('div', {}, h('dt', {}, label), h('dd', {}, inert(value)));
    replaceChildren(facts,
      fact('Job', job.jobId),
      fact('Owner', job.owner),
      fact('Directory', job.cwd),
      job.model ? fact('Model', job.model) : null,
      fact('Created', time(job.createdAt)),
      fact('Started', time(job.startedAt)),
      fact('Ended', time(job.endedAt)),
      fact('Duration', runTime(job)),
      job.exitCode !== null ? fact('Exit code', String(job.exitCode)) : null,
      job.signal ? fact('Signal', job.signal) : null,
      job.statusReason ? fact('Why', job.statusReason) : null);
    const ended = ENDED.has(job.status);
    if (fresh) approvals.show(ended ? [] : job.pendingApprovals ?? []);
    cancel.hidden = ended || !canWrite(ctx.info);
    resume.hidden = !(ended && job.result?.sessionId && canWrite(ctx.info));
    if (ended) live.textContent = '';
  };

  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try {
      const answer = await ctx.api.cancel(jobId);
      ctx.announce(answer.cancelled ? 'Job cancelled.' : `The job had already ended (${answer.status}).`);
      show(await ctx.api.job(jobId));
    } catch (error) {
      actionError.textContent = inert((error as Error).message);
      actionError.hidden = false;
    } finally {
      cancel.disabled = false;
    }
  });

  download.addEventListener('click', async () => {
    download.disabled = true;
    try {
      const blob = await ctx.api.rawLog(jobId);
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = `${jobId}.jsonl`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (error) {
      actionError.textContent = inert((error as Error).message);
      actionError.hidden = false;
    } finally {
      download.disabled = false;
    }
  });

  replaceChildren(ctx.main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← Jobs')),
    h('div', { class: 'toolbar' }, heading, badge, live),
    facts,
    h('div', { class: 'actions' }, cancel, resume, download),
    actionError,
    approvals.element,
    h('h2', {}, 'Output'),
    transcript.element);
  show(job);
  heading.focus();

  // Duration ticks while the job runs; queued → running shows within a few seconds; the final
  // status arrives with the stream's end (a late answer must not turn an ended job back).
  every(1000, ctx.signal, () => {
    if (!ENDED.has(job.status)) show(job, false);
  });
  every(3000, ctx.signal, () => {
    if (ENDED.has(job.status) || document.visibilityState !== 'visible') return;
    ctx.api.job(jobId).then((fresh) => {
      if (!ENDED.has(job.status) && !ctx.signal.aborted) show(fresh);
    }, () => {});
  });

  const stick = () => window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
  await followJob(ctx.api, jobId, {
    onLine: (line) => {
      const atBottom = stick();
      transcript.add(line);
      if (atBottom && !ENDED.has(job.status)) window.scrollTo({ top: document.body.scrollHeight });
    },
    onApproval: (question) => {
      if (!ENDED.has(job.status)) approvals.add(question);
    },
    onEnd: async (final) => {
      show(final ?? (await ctx.api.job(jobId)));
      ctx.announce(`Job ${job.status.replace('_', ' ')}.`);
    },
    onConnection: (connected, reason) => {
      if (ENDED.has(job.status) && connected) return;
      live.textContent = connected ? '● live' : `reconnecting… (${reason ?? 'connection lost'})`;
    },
    onFatal: (error) => {
      actionError.textContent = inert(error.message);
      actionError.hidden = false;
    },
  }, ctx.signal);
}
