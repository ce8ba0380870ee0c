#!/usr/bin/env node
// Builds the jobs page into <outDir> (default dist/web): tsc compiles src/web/*.ts as browser ES
// modules, and the static files (HTML, CSS, icon) are copied beside them. No bundler: the browser
// loads the modules as they are.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.resolve(root, process.argv[2] ?? 'dist/web');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'src/web/tsconfig.json'), '--outDir', outDir], { stdio: 'inherit' });
fs.cpSync(path.join(root, 'src/web/static'), outDir, { recursive: true });
