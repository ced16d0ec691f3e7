/**
 * A throw-away self-signed certificate for the tests' TLS servers (APNs, the egress guard's
 * HTTPS peer, SMTP over STARTTLS and smtps), made with openssl: a P-256 key, valid one day.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `commonName` in the subject; `altNames` as openssl writes them: `IP:127.0.0.1`, `DNS:localhost`. */
export function selfSignedCertificate(
  commonName = '127.0.0.1',
  altNames = ['IP:127.0.0.1'],
): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'herald-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        `/CN=${commonName}`,
        '-addext',
        `subjectAltName=${altNames.join(',')}`,
      ],
      { stdio: 'ignore' },
    );
    return {
      cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
      key: readFileSync(join(dir, 'key.pem'), 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
