// Permission modes of the claude CLI, from least to most permissive. A client may ask for any mode
// up to the operator's cap; `default` means "pass no --permission-mode flag".
export const PERMISSION_MODES = ['plan', 'dontAsk', 'default', 'acceptEdits', 'auto', 'bypassPermissions'] as const;
export type PermissionMode = (typeof PERMISSION_MODES)[number];

export function permissionRank(mode: PermissionMode): number {
  return PERMISSION_MODES.indexOf(mode);
}

export function isWithinCap(mode: PermissionMode, cap: PermissionMode): boolean {
  return permissionRank(mode) <= permissionRank(cap);
}
