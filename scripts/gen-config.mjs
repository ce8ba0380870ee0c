// Writes .env.example and the README settings section from the table in src/config.ts
// (`npm run gen:config` compiles first). test/config.test.ts fails when the files differ from this.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderEnvExample, withReadmeSettings } from '../dist/config-docs.js';

const readmeUrl = new URL('../README.md', import.meta.url);
writeFileSync(new URL('../.env.example', import.meta.url), renderEnvExample());
writeFileSync(readmeUrl, withReadmeSettings(readFileSync(readmeUrl, 'utf8')));
console.log('wrote .env.example and the README settings section');
