// The only way the page makes elements. Text goes in as text nodes, never as markup, and attributes
// are set one by one from a fixed vocabulary of names: untrusted strings (job output, titles,
// prompts, paths) cannot become HTML, a handler or a link. The CSP's Trusted Types rule backs this
// up: any innerHTML-style sink throws.

type Child = Node | string | null | undefined | false;

export interface Props {
  class?: string;
  id?: string;
  type?: string;
  name?: string;
  value?: string;
  for?: string;
  href?: `#${string}`;
  title?: string;
  role?: string;
  placeholder?: string;
  autocomplete?: string;
  list?: string;
  rows?: number;
  required?: boolean;
  disabled?: boolean;
  hidden?: boolean;
  open?: boolean;
  selected?: boolean;
  tabindex?: number;
  aria?: Record<string, string>;
  data?: Record<string, string>;
  onclick?: (event: MouseEvent) => void;
  onsubmit?: (event: SubmitEvent) => void;
  onchange?: (event: Event) => void;
}

const PLAIN_ATTRIBUTES = ['class', 'id', 'type', 'name', 'value', 'for', 'href', 'title', 'role', 'placeholder', 'autocomplete', 'list'] as const;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const name of PLAIN_ATTRIBUTES) {
    const value = props[name];
    if (value !== undefined) el.setAttribute(name, value);
  }
  if (props.rows !== undefined) el.setAttribute('rows', String(props.rows));
  if (props.tabindex !== undefined) el.setAttribute('tabindex', String(props.tabindex));
  for (const flag of ['required', 'disabled', 'hidden', 'open', 'selected'] as const) {
    if (props[flag]) el.setAttribute(flag, '');
  }
  for (const [key, value] of Object.entries(props.aria ?? {})) el.setAttribute(`aria-${key}`, value);
  for (const [key, value] of Object.entries(props.data ?? {})) el.dataset[key] = value;
  if (props.onclick) el.addEventListener('click', props.onclick as EventListener);
  if (props.onsubmit) el.addEventListener('submit', props.onsubmit as EventListener);
  if (props.onchange) el.addEventListener('change', props.onchange);
  append(el, ...children);
  return el;
}

function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

export function replaceChildren(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** A labelled control: every input on the page has a visible label tied to it. */
export function field(label: string, control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement, hint?: string): HTMLElement {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  const hintEl = hint ? h('small', { id: `${id}-hint`, class: 'hint' }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl);
}
