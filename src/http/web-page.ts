// The jobs page: static files from dist/web (built from src/web), served at /ui/ with a CSP stricter
// than helmet's default. The page is plain ES modules and talks only to /v1 with a bearer header, so
// it needs no cookie, no inline script and no eval; Trusted Types make any HTML sink a hard error.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import express, { type Router } from 'express';

/** Where the compiled page lives: dist/web next to dist/http (or .test-build/src/web in tests). */
const WEB_ASSETS_DIR = fileURLToPath(new URL('../web/', import.meta.url));

const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  // The page's forms are handled by script; without it, a form must not send a token anywhere.
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'",
].join('; ');

export function createWebPageRouter(assetsDir = WEB_ASSETS_DIR): Router {
  const router = express.Router();
  const built = fs.existsSync(`${assetsDir}/index.html`);
  router.get('/', (_req, res) => res.redirect(302, '/ui/'));
  router.use('/ui', (req, res, next) => {
    res.setHeader('Content-Security-Policy', PAGE_CSP);
    // Nothing on the page is worth caching past a deploy; ETags keep revalidation cheap.
    res.setHeader('Cache-Control', 'no-cache');
    if (!built) {
      res.status(503).type('text/plain').send('The jobs page was not built: run `npm run build`.');
      return;
    }
    next();
  }, express.static(assetsDir, { index: 'index.html', redirect: true, dotfiles: 'ignore', fallthrough: true, setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache') }));
  return router;
}
