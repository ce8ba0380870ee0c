// The jobs page's pure parts, run in Node from the same compiled modules the browser loads: the
// event-stream parser (chunks split anywhere, CRLF, comments, ids) and the formatting of values.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Info as ServerInfo } from '../src/http/info.js';
import type { JobResource } from '../src/http/openapi.js';
import type { ListOutput, StartInput as ServerStartInput, StartOutput as ServerStartOutput } from '../src/jobs/schemas.js';
import type { Info, Job, JobList, StartInput, StartOutput } from '../src/web/types.js';
import { REPO_ROOT } from './support/helpers.js';

// The page's hand-written wire types must accept what the server's own types say it sends (and
// the server must accept what the page sends). tsc checks these lines; they do nothing at run time.
const fits = <T>(value: T): T => value;
export const wireTypesAgree = (server: { job: JobResource; list: ListOutput; started: ServerStartOutput; info: ServerInfo }, page: StartInput) => [
  fits<Job>(server.job), fits<JobList>(server.list), fits<StartOutput>(server.started), fits<Info>(server.info),
  fits<Partial<ServerStartInput>>({ ...page, permissionMode: page.permissionMode as ServerStartInput['permissionMode'] }),
];

const web = (name: string) => import(pathToFileURL(path.join(REPO_ROOT, '.test-build', 'src', 'web', name)).href);

interface SseEvent { event: string; data: string; id: string | undefined }

describe('the page\'s event-stream parser', () => {
  it('gives the same events however the bytes are split, with CRLF, comments, multi-line data and ids', async () => {
    const { SseParser } = (await web('events.js')) as { SseParser: new () => { push(chunk: string): SseEvent[] } };
    const stream = ': ping\r\n\r\nid: 120\r\nevent: output\r\ndata: {"a":1}\r\n\r\nid: 250\nevent: output\ndata: line one\ndata: line two\n\n: ping\n\nid: 250\nevent: status\ndata: {"status":"completed"}\n\n';
    const whole = new SseParser().push(stream);
    assert.deepEqual(whole, [
      { event: 'output', data: '{"a":1}', id: '120' },
      { event: 'output', data: 'line one\nline two', id: '250' },
      { event: 'status', data: '{"status":"completed"}', id: '250' },
    ]);
    for (let cut = 1; cut < stream.length; cut++) {
      const parser = new SseParser();
      const events = [...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut))];
      assert.deepEqual(events, whole, `split at ${cut}`);
    }
  });
});

describe('the page\'s formatting', () => {
  it('makes control characters (ANSI escapes) visible and harmless, keeps newlines and tabs', async () => {
    const { inert } = (await web('format.js')) as { inert: (s: string) => string };
    assert.equal(inert('\u001b[31mred\u001b[0m\tand\nnext\r\u0007\u007f'), '␛[31mred␛[0m\tand\nnext␍␇␡');
  });

  it('prints durations and costs the way a person reads them', async () => {
    const { duration, cost, age } = (await web('format.js')) as Record<string, (...a: unknown[]) => string>;
    assert.equal(duration!(2800), '2.8s');
    assert.equal(duration!(125_000), '2m 05s');
    assert.equal(duration!(3 * 3_600_000 + 60_000), '3h 01m');
    assert.equal(cost!(0.0123), '$0.0123');
    assert.equal(cost!(12.5), '$12.50');
    assert.equal(cost!(null), '—');
    assert.equal(age!(1_000, 61_000), '1m 00s ago');
  });
});
