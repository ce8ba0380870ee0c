// The one REST caller of the tests: a bearer token on every call (a default one, another per call,
// or none), JSON bodies in, and the answer as a Response or parsed.

export interface RestInit {
  /** The bearer token; null sends none; undefined sends the caller's default. */
  token?: string | null;
  method?: string;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent exactly as written (bad JSON, odd content types). */
  rawBody?: string;
  headers?: Record<string, string>;
}

export type RestCall = (urlPath: string, init?: RestInit) => Promise<Response>;

/** fetch(base + path) with the token and body of `init`; POST when there is a body, else GET. */
export function restCaller(base: string, defaultToken?: string): RestCall {
  return (urlPath, init = {}) => {
    const headers: Record<string, string> = {};
    const token = init.token === undefined ? defaultToken : init.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body = init.rawBody;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] = 'application/json';
    }
    Object.assign(headers, init.headers);
    return fetch(base + urlPath, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body !== undefined ? { body } : {}) });
  };
}

export interface RestAnswer {
  status: number;
  /** The JSON body; {} when there was none or it was not JSON (then see `text`). */
  body: Record<string, any>;
  text: string;
  headers: Headers;
}

/** Reads an answer whole, parsing JSON where there is some. */
export async function answerOf(res: Response): Promise<RestAnswer> {
  const text = await res.text();
  let body: Record<string, any> = {};
  try {
    body = text ? (JSON.parse(text) as Record<string, any>) : {};
  } catch {
    // not JSON: the caller reads `text`
  }
  return { status: res.status, body, text, headers: res.headers };
}
