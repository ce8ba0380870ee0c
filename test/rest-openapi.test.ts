import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020.js';
import { startRestApp, type RestApp } from './support/rest-app.js';
import { readSse } from './support/sse.js';
import { waitFor } from './support/helpers.js';

type Json = Record<string, any>;

/** Validates real responses against the schema the document declares for (path, method, status, type). */
function responseChecker(doc: Json) {
  const ajv = new Ajv2020.default({ strict: false, allErrors: true });
  ajv.addSchema({ $id: 'https://claude-async.dev/openapi.json', components: doc.components });
  const covered = new Set<string>();
  return {
    covered,
    check(template: string, method: string, status: number, contentType: string, body: unknown) {
      const operation = doc.paths[template]?.[method];
      assert.ok(operation, `${method} ${template} is not documented`);
      const response = operation.responses[String(status)];
      assert.ok(response, `${method} ${template} does not document status ${status}`);
      covered.add(`${method} ${template}`);
      if (status === 204) return;
      const mediaType = contentType.split(';')[0]!.trim();
      const schema = response.content?.[mediaType]?.schema;
      assert.ok(schema, `${method} ${template} ${status} does not document ${mediaType}`);
      const resolved = schema.$ref ? { $ref: `https://claude-async.dev/openapi.json${schema.$ref}` } : schema;
      const validate = ajv.compile(resolved);
      assert.ok(validate(body), `${method} ${template} ${status}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
    },
  };
}

async function exercise(app: RestApp, check: ReturnType<typeof responseChecker>['check'], template: string, path: string, init: Parameters<RestApp['call']>[1] = {}): Promise<Response> {
  const res = await app.call(path, init);
  const type = res.headers.get('content-type') ?? '';
  const text = await res.clone().text();
  const body = /[/+]json($|;)/.test(type) ? JSON.parse(text) : text;
  check(template, (init.method ?? (init.body === undefined && init.rawBody === undefined ? 'GET' : 'POST')).toLowerCase(), res.status, type, body);
  return res;
}

describe('REST: the OpenAPI document describes what the API really answers', () => {
  it('is OpenAPI 3.1 with JSON Schema 2020-12 components, a bearer scheme and the problem schema', async (t) => {
    const app = await startRestApp(t);
    const doc = (await (await app.call('/v1/openapi.json')).json()) as Json;
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.servers, [{ url: `${app.url}/v1` }]);
    assert.equal(doc.components.securitySchemes.bearerAuth.scheme, 'bearer');
    for (const name of ['StartInput', 'StartOutput', 'Job', 'JobList', 'CancelOutput', 'RemoveOutput', 'Problem']) assert.ok(doc.components.schemas[name], name);
    assert.deepEqual(doc.components.schemas.StartInput.required, ['prompt']);
    assert.equal(doc.components.schemas.StartInput.additionalProperties, false);
    // The document itself compiles: every schema in it is valid JSON Schema 2020-12.
    const ajv = new Ajv2020.default({ strict: false });
    for (const [name, schema] of Object.entries(doc.components.schemas)) assert.ok(ajv.validateSchema(schema as object), name);
  });

  it('every route\'s actual responses, successes and problems, validate against the document', async (t) => {
    const app = await startRestApp(t, { maxStartsPerMinute: 6, maxPromptBytes: 1000, maxBodyBytes: 20_000, approvals: true });
    const doc = (await (await app.call('/v1/openapi.json')).json()) as Json;
    const { check, covered } = responseChecker(doc);
    const job = '/jobs/{jobId}';
    const ex = (template: string, path: string, init?: Parameters<RestApp['call']>[1]) => exercise(app, check, template, path, init);

    check('/openapi.json', 'get', 200, 'application/json', doc);
    const info = await ex('/info', '/v1/info');
    assert.deepEqual(((await info.json()) as Json).principal, { id: 'token:alice', scopes: ['jobs:read', 'jobs:write'], admin: false });
    const started = await ex('/jobs', '/v1/jobs', { body: { prompt: '#fake sleep 20000\nslow', title: 't', model: 'sonnet' }, headers: { 'idempotency-key': 'doc' } });
    const { jobId } = (await started.json()) as { jobId: string };
    await ex('/jobs', '/v1/jobs', { body: { prompt: '#fake sleep 20000\nslow', title: 't', model: 'sonnet' }, headers: { 'idempotency-key': 'doc' } });
    await ex(job, `/v1/jobs/${jobId}`);
    await ex(job, `/v1/jobs/${jobId}`, { method: 'DELETE' }); // 409
    await ex(`${job}/cancel`, `/v1/jobs/${jobId}/cancel`, { method: 'POST' });
    const asking = ((await (await app.call('/v1/jobs', { body: { prompt: '#fake ask Bash ls', approvals: true } })).json()) as { jobId: string }).jobId;
    const pending = await waitFor(async () => ((await (await app.call(`/v1/jobs/${asking}`)).json()) as { pendingApprovals?: { approvalId: string }[] }).pendingApprovals?.[0], 30_000, 'a question');
    await ex(job, `/v1/jobs/${asking}`); // a Job with pendingApprovals
    const approval = `${job}/approvals/{approvalId}`;
    await ex(approval, `/v1/jobs/${asking}/approvals/${pending.approvalId}`, { body: { decision: 'maybe' } }); // 400
    await ex(approval, `/v1/jobs/${asking}/approvals/${pending.approvalId}`, { rawBody: 'allow', headers: { 'content-type': 'text/plain' } }); // 415
    await ex(approval, `/v1/jobs/${asking}/approvals/ap-0000000000000000`, { body: { decision: 'allow' } }); // 404
    await ex(approval, `/v1/jobs/${asking}/approvals/${pending.approvalId}`, { body: { decision: 'allow' } });
    await ex(approval, `/v1/jobs/${asking}/approvals/${pending.approvalId}`, { body: { decision: 'deny' } }); // 409
    const done = await app.runJob('#fake tool Read /etc/hosts\ndone');
    await ex(job, `/v1/jobs/${done}`);
    await ex('/jobs', '/v1/jobs');
    await ex('/jobs', '/v1/jobs?limit=1');
    await ex('/jobs', '/v1/jobs?status=bogus'); // 400
    await ex(`${job}/output`, `/v1/jobs/${done}/output`);
    await ex(`${job}/output`, `/v1/jobs/${done}/output?format=text`);
    await ex(`${job}/output`, `/v1/jobs/${done}/output`, { headers: { range: 'bytes=0-99' } });
    await ex(`${job}/output`, `/v1/jobs/${done}/output?offset=99999999`); // 416
    const stream = await app.call(`/v1/jobs/${done}/events`);
    const { events } = await readSse(stream);
    check(`${job}/events`, 'get', stream.status, stream.headers.get('content-type') ?? '', '');
    const status = events.at(-1)!;
    assert.equal(status.event, 'status');
    check(job, 'get', 200, 'application/json', JSON.parse(status.data)); // the status event is a Job
    await ex(`${job}/events`, `/v1/jobs/${done}/events`, { headers: { 'last-event-id': status.id! } }); // 204
    await ex(job, `/v1/jobs/${done}`, { method: 'DELETE' });
    await ex(job, `/v1/jobs/${done}`); // 404
    await ex(`${job}/cancel`, `/v1/jobs/${done}/cancel`, { method: 'POST' }); // 404
    await ex('/jobs', '/v1/jobs', { body: { prompt: 'x'.repeat(2000) } }); // 413
    await ex('/jobs', '/v1/jobs', { rawBody: 'hi', headers: { 'content-type': 'text/plain' } }); // 415
    await ex('/jobs', '/v1/jobs', { body: { prompt: 'other' }, headers: { 'idempotency-key': 'doc' } }); // 422
    await ex('/jobs', '/v1/jobs', { token: app.tokens.reader, body: { prompt: 'x' } }); // 403
    await ex('/jobs', '/v1/jobs', { token: null }); // 401
    for (let i = 0; i < 6; i++) await app.call('/v1/jobs', { body: { prompt: `fill ${i}` } });
    const limited = await ex('/jobs', '/v1/jobs', { body: { prompt: 'one too many' } });
    assert.equal(limited.status, 429);

    const documented = Object.entries(doc.paths as Json).flatMap(([path, item]) => Object.keys(item).filter((k) => k !== 'parameters').map((m) => `${m} ${path}`));
    assert.deepEqual([...covered].sort(), documented.sort(), 'every documented operation was exercised');
  });
});
