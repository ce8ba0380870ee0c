// Permission modes of the claude CLI, from least to most permissive, and the tool rules a client may
// pre-approve. A client may ask for any mode up to the operator's cap; `default` means "pass no
// --permission-mode flag". Pre-approving a tool (`allowedTools`) skips claude's permission check for
// it in print mode, so it is capped too: by CLAUDE_ASYNC_GRANTABLE_TOOLS, whose default grants
// nothing the capped mode does not already allow, and never Bash.
export const PERMISSION_MODES = ['plan', 'dontAsk', 'default', 'acceptEdits', 'auto', 'bypassPermissions'] as const;
export type PermissionMode = (typeof PERMISSION_MODES)[number];

function permissionRank(mode: PermissionMode): number {
  return PERMISSION_MODES.indexOf(mode);
}

export function isWithinCap(mode: PermissionMode, cap: PermissionMode): boolean {
  return permissionRank(mode) <= permissionRank(cap);
}

/**
 * `Tool` or `Tool(specifier)`, one rule per list item. The name starts with a letter, so a rule can
 * never be read as a flag. No commas, no nested parentheses, no control characters: claude splits
 * an --allowedTools word on commas and spaces outside parentheses, so `Read,Bash` would smuggle a
 * second rule past a check that looked at the word as a whole.
 */
export const TOOL_RULE_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,99}(\([^(),\x00-\x1f\x7f-\x9f\u2028\u2029]{1,190}\))?$/;

/** Tools every mode runs without asking: pre-approving them adds nothing. */
const READ_ONLY_TOOLS = ['Read', 'Glob', 'Grep', 'LS', 'NotebookRead', 'TodoWrite'];
/** What acceptEdits (and auto) already approve on their own. */
const EDIT_TOOLS = ['Edit', 'Write', 'MultiEdit', 'NotebookEdit'];

/** The grantable rules when the operator names none: what the capped mode allows anyway, never Bash. */
export function defaultGrantableTools(cap: PermissionMode): string[] {
  if (permissionRank(cap) < permissionRank('acceptEdits')) return [...READ_ONLY_TOOLS];
  if (cap !== 'bypassPermissions') return [...READ_ONLY_TOOLS, ...EDIT_TOOLS];
  // bypassPermissions allows every tool already; Bash still has to be listed by name.
  return [...READ_ONLY_TOOLS, ...EDIT_TOOLS, 'WebFetch', 'WebSearch', 'Task'];
}

const toolName = (rule: string) => rule.split('(', 1)[0]!;

/**
 * True when `rule` is covered by the operator's list: `*` covers everything, a bare name covers
 * every rule of that tool (`Bash` covers `Bash(npm test:*)`), a rule with a specifier covers only
 * itself. No prefix reasoning about specifiers: `Bash(npm test:*)` granted does not grant
 * `Bash(npm test && curl …:*)`.
 */
export function isGrantable(rule: string, grantable: readonly string[]): boolean {
  return grantable.some((entry) => entry === '*' || entry === rule || (!entry.includes('(') && entry === toolName(rule)));
}
