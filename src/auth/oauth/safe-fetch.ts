// Fetches a Client ID Metadata Document without becoming an SSRF tool: https only; every address a
// name resolves to is checked before connecting (the checked address is the one connected to, so
// DNS rebinding between check and use cannot happen); every redirect hop is checked the same way;
// a 5 s budget for the whole fetch and a byte cap that stops the download as soon as it is passed.
import dns from 'node:dns';
import https from 'node:https';
import net from 'node:net';
import type { LookupFunction } from 'node:net';

class SafeFetchError extends Error {
  override name = 'SafeFetchError';
}

export interface SafeFetchOptions {
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
  /**
   * Origins fetched even though they resolve to a loopback address. For tests and local
   * development only: production leaves it empty.
   */
  loopbackOrigins: readonly string[];
}

const blocked = new net.BlockList();
for (const [prefix, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(prefix, bits, 'ipv4');
for (const [prefix, bits] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['2001:db8::', 32], ['100::', 64],
] as const) blocked.addSubnet(prefix, bits, 'ipv6');

const LOOPBACK_V4 = new net.BlockList();
LOOPBACK_V4.addSubnet('127.0.0.0', 8, 'ipv4');

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96) IPv6 address. */
function embeddedIpv4(address: string): string | undefined {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return undefined;
  const high = parseInt(hex[1]!, 16);
  const low = parseInt(hex[2]!, 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

export function isLoopbackAddress(address: string): boolean {
  const v4 = net.isIPv4(address) ? address : embeddedIpv4(address);
  if (v4) return LOOPBACK_V4.check(v4, 'ipv4');
  return address === '::1';
}

/** Loopback, private, link-local (cloud metadata at 169.254.169.254), CGNAT, multicast, reserved. */
export function isNonPublicAddress(address: string): boolean {
  const v4 = net.isIPv4(address) ? address : embeddedIpv4(address);
  if (v4) return blocked.check(v4, 'ipv4');
  if (!net.isIPv6(address)) return true;
  return blocked.check(address, 'ipv6');
}

function addressAllowed(address: string, loopbackAllowed: boolean): boolean {
  if (!isNonPublicAddress(address)) return true;
  return loopbackAllowed && isLoopbackAddress(address);
}

function checkedLookup(loopbackAllowed: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { all: true, family: options.family ?? 0, hints: options.hints ?? 0 }, (err, addresses) => {
      if (err) return callback(err, '', 4);
      const bad = addresses.find((a) => !addressAllowed(a.address, loopbackAllowed));
      if (bad || addresses.length === 0) {
        return callback(new SafeFetchError(`${hostname} resolves to a non-public address (${bad?.address ?? 'none'}); refused`), '', 4);
      }
      if (options.all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, addresses);
      const first = addresses[0]!;
      return callback(null, first.address, first.family);
    });
  };
}

function checkUrl(url: URL, options: SafeFetchOptions): boolean {
  if (url.protocol !== 'https:') throw new SafeFetchError(`${url.href.slice(0, 200)} is not https`);
  if (url.username || url.password) throw new SafeFetchError('URLs with credentials are refused');
  const loopbackAllowed = options.loopbackOrigins.includes(url.origin);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host) && !addressAllowed(host, loopbackAllowed)) {
    throw new SafeFetchError(`${host} is a non-public address; refused`);
  }
  return loopbackAllowed;
}

interface Hop {
  status: number;
  location?: string;
  body?: Buffer;
}

function requestOnce(url: URL, loopbackAllowed: boolean, options: SafeFetchOptions, signal: AbortSignal): Promise<Hop> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, {
      method: 'GET',
      headers: { accept: 'application/json', 'user-agent': 'claude-async (client metadata fetch)' },
      lookup: checkedLookup(loopbackAllowed),
      signal,
      agent: false,
    }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        res.resume();
        resolve({ status, ...(res.headers.location ? { location: res.headers.location } : {}) });
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes) {
        res.destroy();
        reject(new SafeFetchError(`the document is larger than ${options.maxBytes} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          res.destroy();
          reject(new SafeFetchError(`the document is larger than ${options.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', (err) => {
      if (err instanceof SafeFetchError) reject(err);
      else if (signal.aborted) reject(new SafeFetchError(`no complete answer within ${options.timeoutMs} ms`));
      else reject(new SafeFetchError(`could not fetch ${url.origin}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
    });
    req.end();
  });
}

/** GETs `target` and returns its body; throws SafeFetchError with a reason a person can act on. */
export async function safeFetch(target: string, options: SafeFetchOptions): Promise<Buffer> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  let url = new URL(target);
  for (let hop = 0; ; hop++) {
    const loopbackAllowed = checkUrl(url, options);
    const answer = await requestOnce(url, loopbackAllowed, options, signal);
    if (answer.status >= 300 && answer.status < 400) {
      if (!answer.location) throw new SafeFetchError(`a ${answer.status} redirect without a Location`);
      if (hop >= options.maxRedirects) throw new SafeFetchError(`more than ${options.maxRedirects} redirects`);
      url = new URL(answer.location, url);
      continue;
    }
    if (answer.status !== 200) throw new SafeFetchError(`${url.origin} answered HTTP ${answer.status}`);
    return answer.body ?? Buffer.alloc(0);
  }
}
