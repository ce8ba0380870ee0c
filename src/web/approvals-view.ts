// The questions a job waits on (approvals), each with Allow / Deny and an optional message to
// Claude. The panel is fed the job's open questions (from GET /v1/jobs/{id} and the stream's
// `approval` events) and keeps only those: a question answered from an MCP client or over REST
// leaves the page with the next look, and one answered here never comes back from a stale look.
import { ApiError, type Api } from './api.js';
import { field, h } from './dom.js';
import { bytes, inert, time } from './format.js';
import type { PendingApproval } from './types.js';

export interface ApprovalsOptions {
  api: Api;
  jobId: string;
  /** Without jobs:write the questions show, with a word on who can answer them. */
  canAnswer: boolean;
  announce(message: string): void;
}

export class ApprovalsPanel {
  readonly element: HTMLElement;
  private readonly list: HTMLElement;
  private readonly cards = new Map<string, HTMLElement>();
  /** Answered here (or refused as answered already): never shown again. */
  private readonly settled = new Set<string>();

  constructor(private readonly options: ApprovalsOptions) {
    const heading = h('h2', { id: 'approvals-heading' }, 'Waiting for your answer');
    this.list = h('div', { class: 'approval-list' });
    this.element = h('section', { class: 'approvals', hidden: true, aria: { labelledby: heading.id } },
      heading,
      options.canAnswer ? null : h('p', { class: 'meta' }, 'Only a token with jobs:write (the job\'s owner or an admin) can answer.'),
      this.list);
  }

  /** The job's open questions right now (the whole list): new ones appear, answered ones go. */
  show(pending: readonly PendingApproval[]): void {
    const open = new Set(pending.map((q) => q.approvalId));
    for (const [approvalId, card] of this.cards) {
      if (open.has(approvalId)) continue;
      // Not settled: a look older than the stream's announcement may miss a new question; the
      // next look brings it back.
      card.remove();
      this.cards.delete(approvalId);
    }
    for (const question of pending) this.add(question);
    this.refresh();
  }

  /** One question announced by the event stream. */
  add(question: PendingApproval): void {
    if (this.cards.has(question.approvalId) || this.settled.has(question.approvalId)) return;
    const card = this.card(question);
    this.cards.set(question.approvalId, card);
    this.list.append(card);
    this.refresh();
    this.options.announce(`The job asks to use ${inert(question.toolName)}.`);
  }

  private refresh(): void {
    this.element.hidden = this.cards.size === 0;
  }

  private settle(approvalId: string): void {
    this.settled.add(approvalId);
    this.cards.get(approvalId)?.remove();
    this.cards.delete(approvalId);
    this.refresh();
  }

  private card(question: PendingApproval): HTMLElement {
    const { approvalId, toolName, input } = question;
    const message = h('textarea', { name: 'message', rows: 2, placeholder: 'e.g. use npm run clean instead' });
    const error = h('p', { class: 'error', role: 'alert', hidden: true });
    const allow = h('button', { type: 'button', class: 'primary' }, 'Allow');
    const deny = h('button', { type: 'button', class: 'danger' }, 'Deny');
    const answer = async (decision: 'allow' | 'deny') => {
      allow.disabled = deny.disabled = true;
      error.hidden = true;
      const text = message.value.trim();
      try {
        await this.options.api.approve(this.options.jobId, approvalId, { decision, ...(text ? { message: text } : {}) });
        this.settle(approvalId);
        this.options.announce(`${decision === 'allow' ? 'Allowed' : 'Denied'} ${inert(toolName)}; the job goes on.`);
      } catch (err) {
        if (err instanceof ApiError && (err.status === 409 || err.status === 404)) {
          // Answered elsewhere first (or the job ended): that answer stands.
          this.settle(approvalId);
          this.options.announce(inert(err.message));
          return;
        }
        error.textContent = inert((err as Error).message);
        error.hidden = false;
        allow.disabled = deny.disabled = false;
      }
    };
    allow.addEventListener('click', () => void answer('allow'));
    deny.addEventListener('click', () => void answer('deny'));
    const headingId = `q-${approvalId}`;
    return h('article', { class: 'approval', data: { approvalId }, aria: { labelledby: headingId } },
      h('h3', { id: headingId }, 'Claude wants to use ', h('span', { class: 'tool-name' }, inert(toolName))),
      h('pre', { class: 'approval-input' }, inert(JSON.stringify(input, null, 2))),
      question.inputTruncated
        ? h('p', { class: 'meta approval-truncated' }, `The input is ${bytes(question.inputBytes ?? 0)}: long text is cut above. Allow runs it whole; the job's output below has all of it.`)
        : null,
      h('p', { class: 'meta' }, `Asked ${time(question.askedAt)}`),
      this.options.canAnswer ? field('Message to Claude (optional; with Deny, what to do instead)', message) : null,
      this.options.canAnswer ? h('div', { class: 'actions' }, allow, deny) : null,
      error);
  }
}

