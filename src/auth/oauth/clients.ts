// The SDK's OAuthRegisteredClientsStore, with two sources of clients: registrations (RFC 7591, kept
// in the state file, capped, never-used ones pruned because Claude registers anew often) and Client
// ID Metadata Documents (an https client_id fetched safely and cached).
import type { OAuthRegisteredClientsStore } from '@modelcontextprotocol/sdk/server/auth/clients.js';
import { InvalidClientMetadataError, TooManyRequestsError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { OAuthClientMetadataSchema, type OAuthClientInformationFull } from '@modelcontextprotocol/sdk/shared/auth.js';
import { clientIdOf, type ClientRecord, type OAuthState } from './records.js';
import { redirectUrisProblem } from './redirect-uris.js';
import { safeFetch, type SafeFetchOptions } from './safe-fetch.js';
import type { StateFile } from '../../files/state-file.js';

interface ClientRegistryOptions {
  maxClients: number;
  /** Registered clients that never got a grant are removed once this old. */
  unusedClientTtlMs: number;
  fetch: SafeFetchOptions;
  now?: () => number;
}

const SUPPORTED_AUTH_METHODS = ['none', 'client_secret_post', 'client_secret_basic'];
const CACHE_OK_MS = 5 * 60_000;
const CACHE_FAILED_MS = 30_000;
const CACHE_ENTRIES = 500;

type ClientLookup = { client: OAuthClientInformationFull } | { client?: undefined; problem: string };

/** A client_id that names a metadata document (SEP-991): https with a path. */
function isMetadataDocumentId(clientId: string): boolean {
  if (!clientId.startsWith('https://')) return false;
  try {
    return new URL(clientId).pathname !== '/';
  } catch {
    return false;
  }
}

/** Rules shared by registrations and metadata documents; returns the problem or undefined. */
function metadataProblem(info: Pick<OAuthClientInformationFull, 'redirect_uris' | 'token_endpoint_auth_method' | 'grant_types' | 'response_types'>): string | undefined {
  const redirect = redirectUrisProblem(info.redirect_uris);
  if (redirect) return redirect;
  const method = info.token_endpoint_auth_method;
  if (method !== undefined && !SUPPORTED_AUTH_METHODS.includes(method)) {
    return `token_endpoint_auth_method "${method}" is not supported; use one of ${SUPPORTED_AUTH_METHODS.join(', ')}`;
  }
  const grants = info.grant_types ?? ['authorization_code'];
  const badGrant = grants.find((g) => g !== 'authorization_code' && g !== 'refresh_token');
  if (badGrant) return `grant type "${badGrant}" is not supported; use authorization_code and refresh_token`;
  const badResponse = (info.response_types ?? ['code']).find((r) => r !== 'code');
  if (badResponse) return `response type "${badResponse}" is not supported; use code`;
  return undefined;
}

export class ClientRegistry implements OAuthRegisteredClientsStore {
  private readonly documents = new Map<string, { expiresAt: number; lookup: ClientLookup }>();
  private readonly inFlight = new Map<string, Promise<ClientLookup>>();
  private readonly now: () => number;

  constructor(private readonly state: StateFile<OAuthState>, private readonly options: ClientRegistryOptions) {
    this.now = options.now ?? Date.now;
  }

  async getClient(clientId: string): Promise<OAuthClientInformationFull | undefined> {
    return (await this.lookup(clientId)).client;
  }

  /** Like getClient, with the reason when there is no client (shown on the error page). */
  async lookup(clientId: string): Promise<ClientLookup> {
    if (isMetadataDocumentId(clientId)) return this.document(clientId);
    const record = (await this.state.read()).clients.find((c) => clientIdOf(c) === clientId);
    if (!record) return { problem: 'This app is not registered here (or its registration was removed); let it register again' };
    return { client: record.info as OAuthClientInformationFull };
  }

  async registerClient(client: Omit<OAuthClientInformationFull, 'client_id' | 'client_id_issued_at'>): Promise<OAuthClientInformationFull> {
    const full = client as OAuthClientInformationFull;
    const problem = metadataProblem(full);
    if (problem) throw new InvalidClientMetadataError(problem);
    if (typeof full.client_name === 'string' && full.client_name.length > 200) throw new InvalidClientMetadataError('client_name is longer than 200 characters');
    // RFC 7591 section 2: an omitted method means client_secret_basic; the SDK made a secret for it.
    const info: OAuthClientInformationFull = { ...full, token_endpoint_auth_method: full.token_endpoint_auth_method ?? 'client_secret_basic' };
    const stored = await this.state.update((data) => {
      this.prune(data);
      if (data.clients.length >= this.options.maxClients) {
        // Full of clients that hold grants: refuse rather than drop someone's working connector.
        return false;
      }
      data.clients.push({ info: info as Record<string, unknown>, createdAt: this.now() });
      return true;
    });
    if (!stored) throw new TooManyRequestsError('This server holds as many registered apps as it may; ask its operator to remove unused ones (claude-async oauth clients)');
    return info;
  }

  /** Records that a client got a grant, so pruning keeps it. */
  markUsed(data: OAuthState, clientId: string): void {
    const record = data.clients.find((c) => clientIdOf(c) === clientId);
    if (record) record.usedAt = this.now();
  }

  /** Drops never-used clients past their time; at the cap, the oldest never-used one goes too. */
  prune(data: OAuthState): void {
    const now = this.now();
    data.clients = data.clients.filter((c) => c.usedAt !== undefined || now - c.createdAt < this.options.unusedClientTtlMs);
    while (data.clients.length >= this.options.maxClients) {
      const oldestUnused = data.clients.reduce<ClientRecord | undefined>(
        (oldest, c) => (c.usedAt === undefined && (!oldest || c.createdAt < oldest.createdAt) ? c : oldest), undefined);
      if (!oldestUnused) break;
      data.clients = data.clients.filter((c) => c !== oldestUnused);
    }
  }

  private document(url: string): Promise<ClientLookup> {
    const cached = this.documents.get(url);
    if (cached && cached.expiresAt > this.now()) return Promise.resolve(cached.lookup);
    let pending = this.inFlight.get(url);
    if (!pending) {
      pending = this.fetchDocument(url).then((lookup) => {
        this.documents.delete(url);
        if (this.documents.size >= CACHE_ENTRIES) this.documents.delete(this.documents.keys().next().value as string);
        this.documents.set(url, { lookup, expiresAt: this.now() + (lookup.client ? CACHE_OK_MS : CACHE_FAILED_MS) });
        return lookup;
      }).finally(() => this.inFlight.delete(url));
      this.inFlight.set(url, pending);
    }
    return pending;
  }

  private async fetchDocument(url: string): Promise<ClientLookup> {
    let body: Buffer;
    try {
      body = await safeFetch(url, this.options.fetch);
    } catch (error) {
      return { problem: `The app's metadata document could not be fetched: ${(error as Error).message}` };
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return { problem: "The app's metadata document is not JSON" };
    }
    const parsed = OAuthClientMetadataSchema.safeParse(json);
    if (!parsed.success || typeof json !== 'object' || json === null) return { problem: "The app's metadata document is not valid client metadata" };
    if ((json as { client_id?: unknown }).client_id !== url) return { problem: "The app's metadata document names a different client_id than its own URL" };
    const method = parsed.data.token_endpoint_auth_method ?? 'none';
    if (method !== 'none') return { problem: `The app's metadata document asks for ${method}; only public clients (none) are supported` };
    const problem = metadataProblem(parsed.data);
    if (problem) return { problem: `The app's metadata document is refused: ${problem}` };
    return { client: { ...parsed.data, client_id: url, token_endpoint_auth_method: 'none' } };
  }
}
