// A job that fails because claude has no credentials should say how to give it some. claude's own
// words ("Not logged in · Please run /login") point at an interactive login, which a server, a
// container or Glama's hosted image cannot do; the variables below work everywhere, and both are
// on the job environment's allowlist (ANTHROPIC_*, CLAUDE_CODE_*).
const NO_CREDENTIALS = /not logged in|invalid api key|please run \/login/i;

const LOGIN_HINT = 'claude has no usable credentials: set ANTHROPIC_API_KEY, or CLAUDE_CODE_OAUTH_TOKEN (made by `claude setup-token`), in the server\'s environment, or log claude in once as the user the server runs as';

export function withLoginHint(message: string): string {
  return NO_CREDENTIALS.test(message) ? `${message} (${LOGIN_HINT})` : message;
}
