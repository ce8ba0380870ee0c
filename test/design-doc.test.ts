// docs/design.md is the contract code comments and tests cite by section: the citations must land.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './support/helpers.js';

function sources(): string[] {
  return ['src', 'test', 'scripts'].flatMap((dir) => fs.readdirSync(path.join(REPO_ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && /\.(ts|mjs|js)$/.test(d.name))
    .map((d) => path.relative(REPO_ROOT, path.join(d.parentPath, d.name))));
}

describe('docs/design.md', () => {
  const design = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'design.md'), 'utf8');
  const headings = new Set([...design.matchAll(/^#{2,3} (.+)$/gm)].map((m) => m[1]!.trim()));

  it('has the sections the issue asks a newcomer to find', () => {
    for (const heading of ['A job on disk', 'The CLI contract', 'Status', 'Seams', 'Where does X go']) assert.ok(headings.has(heading), heading);
  });

  it('every section a comment or test cites exists, and nothing cites a DESIGN.md outside the repo', () => {
    let cited = 0;
    for (const file of sources().filter((f) => f !== path.join('test', 'design-doc.test.ts'))) {
      const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
      assert.doesNotMatch(text, /(?<!docs\/)DESIGN\.md/, `${file} cites DESIGN.md; point it at docs/design.md`);
      for (const line of text.split('\n').filter((l) => l.includes('docs/design.md'))) {
        for (const [, section] of line.matchAll(/"([^"]+)"/g)) {
          assert.ok(headings.has(section!), `${file} cites "${section}", which docs/design.md has no section for`);
          cited++;
        }
      }
    }
    assert.ok(cited >= 3, 'the known citations were found');
  });
});
