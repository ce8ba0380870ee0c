// completion/complete for the job resource templates: the principal's own recent jobIds.
import type { CompleteResourceTemplateCallback } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Viewer } from '../jobs/records.js';
import type { JobService } from '../jobs/service.js';

/** The SDK caps an answer at 100 values; the newest jobs are the likely ones. */
const SUGGESTIONS = 100;

export function completeJobIds(service: Pick<JobService, 'list'>, viewer: Viewer): CompleteResourceTemplateCallback {
  return async (value) => {
    const prefix = value.trim().toLowerCase();
    try {
      const page = await service.list({ limit: SUGGESTIONS }, viewer);
      return page.jobs.map((job) => job.jobId).filter((jobId) => jobId.startsWith(prefix));
    } catch {
      return []; // a completion is a hint; never an error for the user to read
    }
  };
}
