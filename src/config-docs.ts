// Renders the settings table in src/config.ts as the README section and `.env.example`, so neither
// is written by hand. `npm run gen:config` writes them; test/config.test.ts fails when they drift.
import { SETTING_GROUPS, SETTINGS } from './config.js';

const README_BEGIN = '<!-- settings:begin (generated from src/config.ts by `npm run gen:config`; edit the table there) -->';
const README_END = '<!-- settings:end -->';

const groups = () => (Object.keys(SETTING_GROUPS) as (keyof typeof SETTING_GROUPS)[])
  .map((group) => ({ title: SETTING_GROUPS[group], entries: SETTINGS.filter((s) => s.group === group) }))
  .filter((g) => g.entries.length > 0);

/** Markdown → the plain text a shell comment wants: no backticks, links as their text. */
const plain = (markdown: string) => markdown.replace(/\[([^\]]+)\]\([^)]*\)/g, '$1').replace(/`/g, '');

/** A default `fallback` computes is described, not given: shown in parentheses so nobody copies it. */
const envDefault = (entry: (typeof SETTINGS)[number]) => (entry.fallback && entry.default ? `(${plain(entry.default)})` : entry.default);
const readmeDefault = (entry: (typeof SETTINGS)[number]) => {
  if (!entry.default) return '—';
  return entry.fallback ? entry.default : `\`${entry.default}\``;
};
const cell = (markdown: string) => markdown.replace(/\|/g, '\\|');

export function renderEnvExample(): string {
  const lines = [
    '# claude-async configuration. Every variable is optional; the value shown is the default.',
    '# Generated from the table in src/config.ts by `npm run gen:config`; edit it there.',
    '',
  ];
  for (const { title, entries } of groups()) {
    lines.push(`# ---- ${title} ----`, '');
    for (const entry of entries) {
      // Commented out: copying this file to .env changes nothing until a line is chosen on purpose.
      lines.push(`# ${plain(entry.meaning)}`, `# ${entry.env}=${envDefault(entry)}`, '');
    }
  }
  return lines.join('\n');
}

function renderReadmeSettings(): string {
  const parts: string[] = [];
  for (const { title, entries } of groups()) {
    parts.push(`**${title}**`, '', '| variable | default | meaning |', '|---|---|---|');
    for (const entry of entries) parts.push(`| \`${entry.env}\` | ${cell(readmeDefault(entry))} | ${cell(entry.meaning)} |`);
    parts.push('');
  }
  return parts.join('\n');
}

/** The README with the text between its settings markers replaced; throws when a marker is missing. */
export function withReadmeSettings(readme: string): string {
  const begin = readme.indexOf(README_BEGIN);
  const end = readme.indexOf(README_END);
  if (begin < 0 || end < begin) throw new Error(`README.md needs the lines ${README_BEGIN} and ${README_END} around the settings table`);
  return `${readme.slice(0, begin + README_BEGIN.length)}\n\n${renderReadmeSettings()}\n${readme.slice(end)}`;
}
