// A job's stream-json log drawn as a person reads a Claude Code session: the assistant's text, each
// tool call as one line that opens to show its input, the tool's result folded under it, and the
// final result with cost, turns and duration. Every string from the log goes in as text.
import { h, type Props } from './dom.js';
import { cost, duration, inert, shorten } from './format.js';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const str = (value: unknown): string => (typeof value === 'string' ? value : '');
const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/** The one argument that says what a tool call does, as Claude Code shows it: Bash(npm test). */
function toolArgument(input: unknown): string {
  if (!isObject(input)) return '';
  for (const key of ['command', 'file_path', 'path', 'pattern', 'url', 'query', 'description', 'prompt']) {
    if (typeof input[key] === 'string' && input[key]) return input[key] as string;
  }
  const first = Object.values(input).find((v) => typeof v === 'string');
  return typeof first === 'string' ? first : '';
}

function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return content === undefined ? '' : JSON.stringify(content, null, 2);
  return content.map((part) => {
    if (!isObject(part)) return '';
    if (part.type === 'text') return str(part.text);
    return `[${str(part.type) || 'content'}]`;
  }).join('\n');
}

const text = (value: string, props: Props = {}) => h('div', props, inert(value));

export class Transcript {
  readonly element = h('div', { class: 'transcript', role: 'log', aria: { label: 'Job output', live: 'off' } });
  private readonly tools = new Map<string, HTMLDetailsElement>();
  /** Lines drawn so far (tests and the page's counters read it). */
  lines = 0;

  add(line: string): void {
    this.lines += 1;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      if (line.trim()) this.element.append(text(line, { class: 'raw' }));
      return;
    }
    if (!isObject(obj)) return;
    switch (obj.type) {
      case 'system':
        if (obj.subtype === 'init') {
          const parts = [`Session ${str(obj.session_id)}`, str(obj.model), str(obj.permissionMode) && `mode ${str(obj.permissionMode)}`, str(obj.cwd)];
          this.element.append(text(parts.filter(Boolean).join(' · '), { class: 'meta' }));
        }
        return;
      case 'assistant':
        this.message(obj.message, 'assistant');
        return;
      case 'user':
        this.message(obj.message, 'user');
        return;
      case 'result':
        this.element.append(resultCard(obj));
        return;
      case 'claude_async':
        if (obj.subtype === 'log_capped') this.element.append(text(`Log capped at ${String(num(obj.maxLogBytes) ?? '?')} bytes; later output was dropped.`, { class: 'meta warn' }));
        return;
      default:
        // stream_event and other partial or internal lines: nothing a reader needs.
    }
  }

  private message(message: unknown, role: 'assistant' | 'user'): void {
    if (!isObject(message)) return;
    const content = message.content;
    if (typeof content === 'string') {
      if (content.trim()) this.element.append(text(content, { class: role === 'user' ? 'msg user' : 'msg assistant' }));
      return;
    }
    if (!Array.isArray(content)) return;
    for (const block of content) {
      if (!isObject(block)) continue;
      if (block.type === 'text' && str(block.text).trim()) {
        this.element.append(text(str(block.text), { class: role === 'user' ? 'msg user' : 'msg assistant' }));
      } else if (block.type === 'thinking' && str(block.thinking).trim()) {
        this.element.append(h('details', { class: 'thinking' }, h('summary', {}, 'Thinking'), text(str(block.thinking), { class: 'body' })));
      } else if (block.type === 'tool_use') {
        this.toolUse(block);
      } else if (block.type === 'tool_result') {
        this.toolResult(block);
      }
    }
  }

  private toolUse(block: Json): void {
    const name = str(block.name) || 'tool';
    const arg = shorten(toolArgument(block.input), 160);
    const details = h('details', { class: 'tool', data: { state: 'pending' } },
      h('summary', {}, h('span', { class: 'tool-name' }, inert(name)), arg ? h('span', { class: 'tool-arg' }, inert(`(${arg})`)) : null),
      h('pre', { class: 'tool-input', aria: { label: `${name} input` } }, inert(JSON.stringify(block.input ?? {}, null, 2))));
    const id = str(block.id);
    if (id) this.tools.set(id, details);
    this.element.append(details);
  }

  private toolResult(block: Json): void {
    const body = resultText(block.content);
    const failed = block.is_error === true;
    const lineCount = body ? body.split('\n').length : 0;
    const folded = h('details', { class: failed ? 'tool-result error' : 'tool-result' },
      h('summary', {}, `${failed ? 'Error' : 'Result'} · ${lineCount} line${lineCount === 1 ? '' : 's'}`),
      h('pre', {}, inert(body)));
    const owner = this.tools.get(str(block.tool_use_id));
    if (owner) {
      owner.dataset.state = failed ? 'error' : 'done';
      owner.append(folded);
    } else {
      this.element.append(folded);
    }
  }
}

function resultCard(obj: Json): HTMLElement {
  const failed = obj.is_error === true;
  const costUsd = num(obj.total_cost_usd);
  const turns = num(obj.num_turns);
  const ms = num(obj.duration_ms);
  const fact = (label: string, value: string) => h('div', {}, h('dt', {}, label), h('dd', {}, value));
  return h('section', { class: failed ? 'result error' : 'result ok', aria: { label: 'Result' } },
    h('h3', {}, failed ? `Ended with an error${str(obj.subtype) ? ` (${str(obj.subtype)})` : ''}` : 'Result'),
    text(str(obj.result), { class: 'result-text' }),
    h('dl', { class: 'facts' },
      fact('Cost', cost(costUsd)),
      fact('Turns', turns === null ? '—' : String(turns)),
      fact('Duration', ms === null ? '—' : duration(ms))));
}
