// Writes .env.example from the table in src/config.ts (run after a build): one source for defaults.
import { writeFileSync } from 'node:fs';
import { ENV_DEFAULTS } from '../dist/config.js';

const lines = ['# claude-async configuration. Every variable is optional; the value shown is the default.\n# Generated from src/config.ts by scripts/env-example.mjs.', ''];
for (const [name, [value, meaning]] of Object.entries(ENV_DEFAULTS)) {
  lines.push(`# ${meaning}`);
  // Commented out: copying this file to .env changes nothing until a line is chosen on purpose.
  lines.push(`# ${name}=${/^[\w.:/,@~-]*$/.test(value) ? value : `(${value})`}`, '');
}
writeFileSync(new URL('../.env.example', import.meta.url), lines.join('\n'));
