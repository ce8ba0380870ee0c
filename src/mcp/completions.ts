// completion/complete for the job resource templates: the principal's jobIds that start with what
// was typed, over all of its jobs (not only the newest), so `total` and `hasMore` are true. The SDK
// answers with the first 100 values, `total` = how many we return, `hasMore` = total > 100.
import type { CompleteResourceTemplateCallback } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Viewer } from '../jobs/records.js';
import type { JobService } from '../jobs/service.js';

/** The largest page the engine lists; completion walks every page. */
const PAGE = 200;

export async function matchingJobIds(service: Pick<JobService, 'list'>, viewer: Viewer, prefix: string): Promise<string[]> {
  const matches: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await service.list(viewer, { limit: PAGE, ...(cursor ? { cursor } : {}) });
    for (const job of page.jobs) if (job.jobId.startsWith(prefix)) matches.push(job.jobId);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return matches;
}

export function completeJobIds(service: Pick<JobService, 'list'>, viewer: () => Viewer): CompleteResourceTemplateCallback {
  return async (value) => {
    try {
      return await matchingJobIds(service, viewer(), value.trim().toLowerCase());
    } catch {
      return []; // a completion is a hint; never an error for the user to read
    }
  };
}
