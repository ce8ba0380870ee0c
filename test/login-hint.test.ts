// A job that fails for want of credentials says which variables would have made it run (the
// stdio image Glama hosts, a container, a service: none can do claude's interactive /login).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withLoginHint } from '../src/jobs/login-hint.js';

describe('the reason of a job claude could not authenticate', () => {
  it('names ANTHROPIC_API_KEY and CLAUDE_CODE_OAUTH_TOKEN after claude\'s own words', () => {
    for (const said of ['Not logged in · Please run /login', 'Invalid API key · Please run /login']) {
      const reason = withLoginHint(said);
      assert.ok(reason.startsWith(said), reason);
      assert.match(reason, /ANTHROPIC_API_KEY/);
      assert.match(reason, /CLAUDE_CODE_OAUTH_TOKEN/);
    }
  });

  it('leaves every other error as claude wrote it', () => {
    for (const said of ['API Error: 529 Overloaded', 'No conversation found with session ID: 1234', '']) {
      assert.equal(withLoginHint(said), said);
    }
  });
});
