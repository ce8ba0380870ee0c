// The jobs list: newest first, a status filter, pages by nextCursor, and rows that refresh while
// jobs are live. Cost comes from each ended job's own record (GET /v1/jobs/{id}), fetched once.
import { every, type ViewContext } from './context.js';
import { h, replaceChildren } from './dom.js';
import { age, cost, inert, runTime, shorten } from './format.js';
import { ENDED, JOB_STATUSES, type Job, type JobList, type JobStatus, type JobSummary } from './types.js';

const PAGE_SIZE = 20;
const REFRESH_MS = 3000;
/** Costs of ended jobs never change: one fetch per job per page load. */
const endedJobs = new Map<string, Promise<Job | null>>();

export function statusBadge(status: JobStatus): HTMLElement {
  return h('span', { class: `badge s-${status}` }, status.replace('_', ' '));
}

export function renderList(ctx: ViewContext, query: URLSearchParams): void {
  const wanted = query.get('status');
  const status = (JOB_STATUSES as readonly string[]).includes(wanted ?? '') ? (wanted as JobStatus) : undefined;
  /** Cursors of the pages before this one, for "Newer". */
  const cursors: (string | undefined)[] = [];
  let cursor: string | undefined;
  let page: JobList = { jobs: [] };

  const filter = h('select', { id: 'status-filter', name: 'status' },
    h('option', { value: '', selected: !status }, 'All'),
    ...JOB_STATUSES.map((s) => h('option', { value: s, selected: s === status }, s.replace('_', ' '))));
  filter.addEventListener('change', () => ctx.go(filter.value ? `#/?status=${filter.value}` : '#/'));
  const body = h('tbody');
  const admin = ctx.info.principal.admin;
  const table = h('table', { class: 'jobs', aria: { label: 'Jobs, newest first' } },
    h('thead', {}, h('tr', {},
      h('th', {}, 'Status'), h('th', {}, 'Title'), admin ? h('th', {}, 'Owner') : null, h('th', {}, 'Directory'),
      h('th', {}, 'Age'), h('th', {}, 'Duration'), h('th', {}, 'Cost'))),
    body);
  const empty = h('p', { class: 'empty', hidden: true }, 'No jobs here yet.');
  const newer = h('button', { type: 'button', disabled: true }, '← Newer');
  const older = h('button', { type: 'button', disabled: true }, 'Older →');
  const error = h('p', { class: 'error', role: 'alert', hidden: true });

  newer.addEventListener('click', () => {
    cursor = cursors.pop();
    void load();
  });
  older.addEventListener('click', () => {
    if (!page.nextCursor) return;
    cursors.push(cursor);
    cursor = page.nextCursor;
    void load();
  });

  replaceChildren(ctx.main,
    h('div', { class: 'toolbar' },
      h('h1', { tabindex: -1 }, 'Jobs'),
      h('div', { class: 'field inline' }, h('label', { for: 'status-filter' }, 'Status'), filter)),
    error, table, empty,
    h('nav', { class: 'pager', aria: { label: 'Pages' } }, newer, older));
  ctx.main.querySelector('h1')?.focus();

  const costCell = (job: JobSummary): HTMLElement => {
    const cell = h('td', { data: { label: 'Cost' } }, '—');
    if (!ENDED.has(job.status)) return cell;
    let known = endedJobs.get(job.jobId);
    if (!known) {
      known = ctx.api.job(job.jobId).catch(() => null);
      endedJobs.set(job.jobId, known);
    }
    void known.then((full) => {
      cell.textContent = cost(full?.result?.costUsd);
    });
    return cell;
  };

  const row = (job: JobSummary): HTMLElement => {
    const label = job.title?.trim() ? shorten(job.title, 120) : `(untitled) ${job.jobId}`;
    return h('tr', { data: { jobId: job.jobId, status: job.status } },
      h('td', { data: { label: 'Status' } }, statusBadge(job.status)),
      h('td', { class: 'title', data: { label: 'Title' } }, h('a', { href: `#/jobs/${encodeURIComponent(job.jobId)}` }, inert(label))),
      admin ? h('td', { data: { label: 'Owner' } }, inert(job.owner)) : null,
      h('td', { class: 'path', data: { label: 'Directory' } }, inert(job.cwd)),
      h('td', { data: { label: 'Age' } }, h('time', { title: new Date(job.createdAt).toISOString() }, age(job.createdAt))),
      h('td', { data: { label: 'Duration' } }, runTime(job)),
      costCell(job));
  };

  const load = async () => {
    try {
      page = await ctx.api.listJobs({ status, cursor, limit: PAGE_SIZE });
      if (ctx.signal.aborted) return;
      error.hidden = true;
      replaceChildren(body, ...page.jobs.map(row));
      empty.hidden = page.jobs.length > 0;
      table.hidden = page.jobs.length === 0;
      newer.disabled = cursors.length === 0 && cursor === undefined;
      older.disabled = !page.nextCursor;
    } catch (e) {
      if (ctx.signal.aborted) return;
      error.textContent = (e as Error).message;
      error.hidden = false;
    }
  };

  void load();
  // New jobs appear and live ones move on their own; only while the tab is visible.
  every(REFRESH_MS, ctx.signal, () => {
    if (document.visibilityState === 'visible') void load();
  });
}
