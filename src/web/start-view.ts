// The start form: prompt, title, cwd, model, the permission modes this server allows and, when the
// operator turned them on, approvals (the job asks before what its mode would refuse). With
// ?resume=<jobId> it continues that job's Claude session (resumeSessionId) in the same directory.
import { ApiError } from './api.js';
import { canWrite, type ViewContext } from './context.js';
import { field, h, replaceChildren } from './dom.js';
import { inert } from './format.js';
import type { Job, StartInput } from './types.js';

const MODEL_SUGGESTIONS = ['sonnet', 'opus', 'haiku'];

/** A checkbox reads best with its label beside it. */
function checkboxField(label: string, box: HTMLInputElement, hint: string): HTMLElement {
  const wrapper = field(label, box, hint);
  wrapper.classList.add('check');
  return wrapper;
}

export async function renderStart(ctx: ViewContext, query: URLSearchParams): Promise<void> {
  const { info } = ctx;
  if (!canWrite(info)) {
    replaceChildren(ctx.main, h('h1', { tabindex: -1 }, 'New job'), h('p', { class: 'error', role: 'alert' }, 'This token may read jobs but not start them (it lacks the jobs:write scope).'));
    return;
  }
  const resumeId = query.get('resume');
  let from: Job | null = null;
  if (resumeId) {
    try {
      from = await ctx.api.job(resumeId);
    } catch (error) {
      replaceChildren(ctx.main, h('h1', { tabindex: -1 }, 'Continue a job'), h('p', { class: 'error', role: 'alert' }, inert((error as Error).message)));
      return;
    }
  }
  if (ctx.signal.aborted) return;
  const sessionId = from?.result?.sessionId ?? undefined;

  const prompt = h('textarea', { name: 'prompt', rows: 8, required: true, placeholder: from ? 'What next?' : 'What should Claude do?' });
  const title = h('input', { name: 'title', type: 'text', autocomplete: 'off', value: from?.title ? `${from.title} (continued)`.slice(0, 200) : '' });
  const cwd = h('input', { name: 'cwd', type: 'text', autocomplete: 'off', placeholder: info.defaultCwd ?? 'server default', list: 'cwd-roots', value: from?.cwd ?? '' });
  const model = h('input', { name: 'model', type: 'text', autocomplete: 'off', placeholder: 'server default', list: 'model-names', value: from?.model ?? '' });
  const mode = h('select', { name: 'permissionMode' },
    ...info.permissionModes.map((m) => h('option', { value: m, selected: m === info.defaultPermissionMode }, m)));
  const approvals = h('input', { name: 'approvals', type: 'checkbox' });
  const error = h('p', { class: 'error', role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, from ? 'Continue session' : 'Start job');
  const controls: Record<string, HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement> = { prompt, title, cwd, model, permissionMode: mode, approvals };
  // One key per filled-in form: a double click or a retried request starts one job, not two.
  let idempotencyKey = crypto.randomUUID();
  for (const control of Object.values(controls)) control.addEventListener('input', () => { idempotencyKey = crypto.randomUUID(); });

  const form = h('form', { class: 'start', aria: { label: from ? 'Continue the session' : 'Start a job' } },
    from ? h('p', { class: 'meta' }, inert(`Continues session ${sessionId ?? '(none)'} of job ${from.jobId}.`)) : null,
    field('Prompt', prompt),
    field('Title', title, 'A short label for the list (optional).'),
    field('Working directory', cwd, info.allowedRoots ? `Inside ${info.allowedRoots.join(', ')}. Empty: ${info.defaultCwd ?? 'the server default'}.` : 'An absolute path inside the folders the operator allows (optional; empty: the server default).'),
    field('Model', model, 'An alias such as sonnet or opus, or a full model name (optional).'),
    field('Permission mode', mode, 'Only the modes this server allows are listed.'),
    info.approvals ? checkboxField('Ask me first (approvals)', approvals, 'When Claude wants a tool the mode would refuse, the job waits for your Allow or Deny here or in any MCP client.') : null,
    h('datalist', { id: 'cwd-roots' }, ...(info.allowedRoots ?? []).map((root) => h('option', { value: root }))),
    h('datalist', { id: 'model-names' }, ...MODEL_SUGGESTIONS.map((name) => h('option', { value: name }))),
    error,
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    for (const control of Object.values(controls)) control.removeAttribute('aria-invalid');
    const input: StartInput = { prompt: prompt.value, permissionMode: mode.value };
    if (title.value.trim()) input.title = title.value.trim();
    if (cwd.value.trim()) input.cwd = cwd.value.trim();
    if (model.value.trim()) input.model = model.value.trim();
    if (sessionId) input.resumeSessionId = sessionId;
    if (info.approvals && approvals.checked) input.approvals = true;
    submit.disabled = true;
    try {
      const started = await ctx.api.start(input, idempotencyKey);
      ctx.announce('Job started.');
      ctx.go(`#/jobs/${encodeURIComponent(started.jobId)}`);
    } catch (e) {
      error.textContent = inert((e as Error).message);
      error.hidden = false;
      const bad = e instanceof ApiError && e.problem.field ? controls[e.problem.field] : undefined;
      if (bad) {
        bad.setAttribute('aria-invalid', 'true');
        bad.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });

  replaceChildren(ctx.main, h('p', { class: 'crumbs' }, h('a', { href: '#/' }, '← Jobs')), h('h1', { tabindex: -1 }, from ? 'Continue a job' : 'New job'), form);
  prompt.focus();
}
