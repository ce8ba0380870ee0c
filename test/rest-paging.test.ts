import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { jobPaths } from '../src/jobs/layout.js';
import { startRestApp } from './support/rest-app.js';

const LOG_BYTES = 100 * 1024 * 1024;

/** About 100 MB of stream-json-like lines of varying length, each one different. */
function bigLog(): Buffer {
  const buf = Buffer.allocUnsafe(LOG_BYTES + 4096);
  const pad = 'x'.repeat(3000);
  let used = 0;
  for (let i = 0; used < LOG_BYTES; i++) {
    used += buf.write(`{"type":"assistant","n":${i},"text":"${pad.slice(0, (i * 7919) % 3000)}"}\n`, used);
  }
  return buf.subarray(0, used);
}

// Response.arrayBuffer() is an order of magnitude slower than reading the stream in Node 20.
async function bytes(res: Response): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('REST: paging a 100 MB log', () => {
  it('offset pages and Range requests each reassemble the log byte for byte', async (t) => {
    const app = await startRestApp(t);
    const jobId = await app.runJob('a job whose log we replace');
    const log = bigLog();
    fs.writeFileSync(jobPaths(app.config.jobsDir, jobId).out, log);
    const expected = sha256(log);
    const url = `/v1/jobs/${jobId}/output`;

    // Offset paging with the default page size; every page but the last ends on a line boundary.
    const pages: Buffer[] = [];
    for (let offset = 0; ;) {
      const res = await app.call(`${url}?offset=${offset}`);
      assert.equal(res.status, 200);
      assert.equal(Number(res.headers.get('x-offset')), offset);
      assert.equal(Number(res.headers.get('x-output-bytes')), log.length);
      const page = await bytes(res);
      const next = Number(res.headers.get('x-next-offset'));
      assert.equal(next, offset + page.length);
      assert.ok(page.length <= 1024 * 1024);
      if (page.length === 0) break;
      assert.equal(page.at(-1), 10, `page at ${offset} does not end on a line boundary`);
      pages.push(page);
      offset = next;
    }
    assert.ok(pages.length >= 100, `${pages.length} pages`);
    assert.equal(sha256(Buffer.concat(pages)), expected);

    // Range requests in 16 MiB steps answer exactly the bytes asked for.
    const ranges: Buffer[] = [];
    const step = 16 * 1024 * 1024;
    for (let start = 0; start < log.length; start += step) {
      const res = await app.call(url, { headers: { range: `bytes=${start}-${start + step - 1}` } });
      assert.equal(res.status, 206);
      const end = Math.min(start + step, log.length) - 1;
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end}/${log.length}`);
      assert.equal(Number(res.headers.get('x-next-offset')), end + 1);
      ranges.push(await bytes(res));
    }
    assert.equal(sha256(Buffer.concat(ranges)), expected);

    const suffix = await app.call(url, { headers: { range: 'bytes=-100' } });
    assert.equal(suffix.status, 206);
    assert.deepEqual(await bytes(suffix), log.subarray(log.length - 100));

    // A bigger page on request, capped at 8 MiB; a text page from mid-line starts at the next line.
    const big = await app.call(`${url}?offset=0&limit=${64 * 1024 * 1024}`);
    assert.ok((await bytes(big)).length <= 8 * 1024 * 1024);
    const text = await app.call(`${url}?format=text&offset=12345&limit=100000`);
    const nextOffset = Number(text.headers.get('x-next-offset'));
    assert.equal(log[nextOffset - 1], 10, 'text pages end on a line boundary');
    assert.equal(await text.text(), '', 'these lines carry no assistant content to render');
  });
});
