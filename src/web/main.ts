// The jobs page: signs in, then routes by the address's #fragment to the list, a job or the start
// form. Every view gets an AbortSignal that ends its timers and streams when another view opens.
import { Api } from './api.js';
import type { ViewContext } from './context.js';
import { h, replaceChildren } from './dom.js';
import { inert } from './format.js';
import { renderJob } from './job-view.js';
import { renderList } from './list-view.js';
import { completeOAuthSignIn } from './oauth.js';
import { forgetSession, loadSession, saveSession } from './session.js';
import { renderSignIn } from './signin-view.js';
import { renderStart } from './start-view.js';
import type { Info } from './types.js';

const main = document.getElementById('main') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const signOutButton = document.getElementById('signout') as HTMLButtonElement;
const statusLine = document.getElementById('status') as HTMLElement;

let info: Info | null = null;
let current: AbortController | null = null;

const api = new Api((reason) => signOut(reason));

let quiet: ReturnType<typeof setTimeout> | undefined;
function announce(message: string): void {
  statusLine.textContent = message;
  clearTimeout(quiet);
  quiet = setTimeout(() => { statusLine.textContent = ''; }, 8000);
}

function signOut(message?: string): void {
  forgetSession();
  info = null;
  current?.abort();
  current = null;
  who.textContent = '';
  nav.hidden = true;
  signOutButton.hidden = true;
  renderSignIn(main, message, () => void route());
}

async function route(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  if (!loadSession()) {
    signOut();
    return;
  }
  if (!info) {
    try {
      info = await api.info();
    } catch (error) {
      if (loadSession()) replaceChildren(main, h('h1', {}, 'The server did not answer'), h('p', { class: 'error', role: 'alert' }, inert((error as Error).message)));
      return;
    }
    who.textContent = inert(`${info.principal.id}${info.principal.admin ? ' (admin)' : ''}`);
    nav.hidden = false;
    signOutButton.hidden = false;
  }
  if (controller.signal.aborted) return;
  const ctx: ViewContext = { api, info, main, signal: controller.signal, announce, go: (hash) => { location.hash = hash; } };
  const [path = '/', search = ''] = location.hash.replace(/^#/, '').split('?');
  const query = new URLSearchParams(search);
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  // Each view puts focus on its heading once drawn, so keyboard and screen-reader users start there.
  if (job) void renderJob(ctx, decodeURIComponent(job[1]!));
  else if (path === '/new') void renderStart(ctx, query);
  else renderList(ctx, query);
}

signOutButton.addEventListener('click', () => {
  signOut('Signed out.');
  location.hash = '#/';
});
window.addEventListener('hashchange', () => void route());

async function start(): Promise<void> {
  try {
    const done = await completeOAuthSignIn();
    if (done) saveSession(done.session);
  } catch (error) {
    signOut((error as Error).message);
    return;
  }
  await route();
}

void start();
