// Certificates for tests that speak TLS to something local (nginx in front of the server, a client
// metadata document over https): made by openssl for the test, trusted only by that test.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface Certificate {
  keyFile: string;
  certFile: string;
  /** The PEM texts of the two files. */
  key: string;
  cert: string;
}

/** A self-signed certificate (its own CA) for `hostname`, in `dir`; for localhost it names 127.0.0.1 too. */
export function selfSignedCertificate(dir: string, hostname = 'localhost'): Certificate {
  fs.mkdirSync(dir, { recursive: true });
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  const names = hostname === 'localhost' ? 'DNS:localhost,IP:127.0.0.1' : `DNS:${hostname}`;
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', `/CN=${hostname}`, '-addext', `subjectAltName=${names}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-keyout', keyFile, '-out', certFile,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { keyFile, certFile, key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8') };
}
