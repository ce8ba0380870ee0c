// The consent page and the error page, as pure functions of their inputs: server-rendered HTML with
// no external assets and no script, one inline style block allowed by its hash in a strict CSP, and a
// plain form that works without JavaScript. The form contract scripts rely on: field `token`, submit
// buttons named `decision` with values `approve` and `deny`, plus the hidden fields `request` and `csrf`.
import { createHash } from 'node:crypto';
import type { Scope } from '../types.js';

export const CONSENT_PATH = '/oauth/consent';

const STYLE = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f4f5;color:#18181b}
main{max-width:28rem;margin:0 auto;padding:1.5rem 1rem}
.card{background:#fff;border-radius:.75rem;padding:1.25rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.25rem;margin:0 0 .75rem}
p{margin:.5rem 0}
ul{padding-left:1.25rem;margin:.25rem 0 .75rem}
code,.host{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.muted{color:#52525b;font-size:.9rem}
.error{background:#fef2f2;color:#991b1b;border:1px solid #fecaca;border-radius:.5rem;padding:.5rem .75rem}
label{display:block;font-weight:600;margin:1rem 0 .25rem}
input[type=password]{width:100%;font-size:1rem;padding:.75rem;border:1px solid #a1a1aa;border-radius:.5rem}
.actions{display:flex;gap:.75rem;margin-top:1rem}
button{flex:1;font-size:1rem;padding:.8rem;border-radius:.5rem;border:1px solid #a1a1aa;background:#fff;cursor:pointer}
button[value=approve]{background:#18181b;color:#fff;border-color:#18181b}
`;
const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;

const SCOPE_TEXT: Record<Scope, string> = {
  'jobs:read': 'see your jobs and their output',
  'jobs:write': 'start, answer and cancel jobs as you',
  admin: "see and manage everyone's jobs",
};

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/**
 * CSP for our pages. form-action must also allow the redirect target: browsers apply it to the
 * redirect that answers the form post.
 */
export function pageSecurityHeaders(formTargets: string[] = []): Record<string, string> {
  const formAction = ["'self'", ...formTargets].join(' ');
  return {
    'Content-Security-Policy': `default-src 'none'; style-src ${STYLE_HASH}; img-src 'none'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'X-Frame-Options': 'DENY',
    'Cache-Control': 'no-store',
    // Not no-referrer: with it Chromium sends "Origin: null" on the form post, which the Origin
    // check must refuse. same-origin still sends nothing to the app we redirect to.
    'Referrer-Policy': 'same-origin',
    'Content-Type': 'text/html; charset=utf-8',
  };
}

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body><main><div class="card">
${body}
</div></main></body>
</html>
`;
}

interface ConsentView {
  clientName: string;
  clientId: string;
  redirectHost: string;
  requestedScopes: string[];
  requestId: string;
  csrf: string;
  error?: string;
}

export function renderConsentPage(view: ConsentView): string {
  const asked = view.requestedScopes.length ? view.requestedScopes : ['(none named)'];
  const scopeItems = asked.map((s) => `<li><code>${escapeHtml(s)}</code>${s in SCOPE_TEXT ? ` — ${escapeHtml(SCOPE_TEXT[s as Scope])}` : ''}</li>`).join('');
  return layout('Allow access to claude-async?', `<h1>Allow <span>${escapeHtml(view.clientName)}</span> to use claude-async?</h1>
<p>After you approve, you are sent back to <span class="host">${escapeHtml(view.redirectHost)}</span>.</p>
<p>It asks to:</p>
<ul>${scopeItems}</ul>
<p class="muted">It gets at most what your token may do, and only for this server. Client: <code>${escapeHtml(view.clientId)}</code></p>
${view.error ? `<p class="error" role="alert">${escapeHtml(view.error)}</p>` : ''}
<form method="post" action="${CONSENT_PATH}">
<input type="hidden" name="request" value="${escapeHtml(view.requestId)}">
<input type="hidden" name="csrf" value="${escapeHtml(view.csrf)}">
<label for="token">Your claude-async token</label>
<input type="password" id="token" name="token" autocomplete="current-password" placeholder="cas_…" spellcheck="false" autocapitalize="off">
<p class="muted">The token proves who you are; it is not given to the app.</p>
<div class="actions">
<button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button>
</div>
</form>`);
}

export function renderErrorPage(title: string, message: string): string {
  return layout(title, `<h1>${escapeHtml(title)}</h1>
<p class="error" role="alert">${escapeHtml(message)}</p>
<p class="muted">Nothing was approved. Close this page and start the connection again from your app.</p>`);
}
