// GET /v1/info: what a client needs to offer only what this server allows — who the token belongs to,
// the permission modes within the operator's cap, and (for admins) where jobs may run. The jobs page reads it to
// build its start form; scripts can read it instead of guessing and meeting a 400.
import { z } from 'zod';
import type { Config } from '../config.js';
import type { Principal } from '../auth/types.js';
import { SCOPES, viewerOf } from '../auth/types.js';
import { isWithinCap, PERMISSION_MODES } from '../jobs/permission.js';
import { VERSION } from '../version.js';

export const infoOutputSchema = z.object({
  version: z.string(),
  principal: z.object({
    id: z.string().describe('The owner of the jobs this token starts.'),
    scopes: z.array(z.enum(SCOPES)),
    admin: z.boolean().describe('True when this token sees every owner\'s jobs.'),
  }),
  permissionModes: z.array(z.enum(PERMISSION_MODES)).describe('The modes a job may ask for, least permissive first (capped by the server).'),
  defaultPermissionMode: z.enum(PERMISSION_MODES).describe('The mode of a job that names none.'),
  defaultCwd: z.string().optional().describe('The cwd of a job that names none (admin tokens only).'),
  allowedRoots: z.array(z.string()).optional().describe('A job\'s cwd must resolve inside one of these (admin tokens only).'),
  approvals: z.boolean().describe('True when a job may start with approvals: true (the operator set CLAUDE_ASYNC_APPROVALS=on).'),
});
export type Info = z.infer<typeof infoOutputSchema>;

export function serverInfo(config: Config, principal: Principal): Info {
  const cap = config.maxPermissionMode;
  const fallback = config.defaultPermissionMode;
  return {
    version: VERSION,
    principal: { id: principal.id, scopes: [...principal.scopes], admin: viewerOf(principal).admin },
    permissionModes: PERMISSION_MODES.filter((mode) => isWithinCap(mode, cap)),
    // The engine caps a default above the maximum the same way (service.start).
    defaultPermissionMode: isWithinCap(fallback, cap) ? fallback : cap,
    approvals: config.approvals,
    // Where jobs may run is the operator's business: a refused cwd names no root either (one message
    // for missing and outside), so only admins read the layout here.
    ...(viewerOf(principal).admin ? { defaultCwd: config.defaultCwd, allowedRoots: [...config.allowedRoots] } : {}),
  };
}
