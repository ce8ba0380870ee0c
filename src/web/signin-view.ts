// Signing in: paste a cas_… token, or (when the server runs its own OAuth server) go through its
// consent page. A pasted token is checked against /v1/info before it is kept.
import { Api, ApiError } from './api.js';
import { field, h, replaceChildren } from './dom.js';
import { inert } from './format.js';
import { beginOAuthSignIn, discoverOAuth } from './oauth.js';
import { forgetSession, saveSession } from './session.js';

export function renderSignIn(main: HTMLElement, message: string | undefined, onSignedIn: () => void): void {
  const token = h('input', { name: 'token', type: 'password', autocomplete: 'off', required: true, placeholder: 'cas_…' });
  const error = h('p', { class: 'error', role: 'alert', hidden: !message }, inert(message ?? ''));
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const oauthBox = h('div', { class: 'oauth', hidden: true });
  const form = h('form', { class: 'signin', aria: { label: 'Sign in with a token' } },
    field('API token', token, 'A cas_… token from "claude-async token create", or the one printed on the first start. Kept in this tab only, never in a cookie.'),
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = token.value.trim();
    if (!value) return;
    submit.disabled = true;
    saveSession({ kind: 'token', accessToken: value });
    try {
      await new Api(() => {}).info();
      token.value = '';
      onSignedIn();
    } catch (e) {
      forgetSession();
      error.textContent = e instanceof ApiError && e.status === 401 ? 'That token was not accepted.' : inert((e as Error).message);
      error.hidden = false;
      token.focus();
    } finally {
      submit.disabled = false;
    }
  });

  replaceChildren(main, h('h1', { tabindex: -1 }, 'Sign in'), error, oauthBox, form);
  token.focus();

  // The OAuth button appears only when the server advertises an authorization server on this origin.
  void discoverOAuth().then((server) => {
    if (!server) return;
    const button = h('button', { type: 'button', class: 'primary' }, 'Sign in with claude-async');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await beginOAuthSignIn(server, location.hash);
      } catch (e) {
        error.textContent = inert((e as Error).message);
        error.hidden = false;
        button.disabled = false;
      }
    });
    replaceChildren(oauthBox, button, h('p', { class: 'hint' }, 'Or paste a token:'));
    oauthBox.hidden = false;
  });
}
