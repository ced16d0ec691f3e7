/**
 * Throw-away self-signed certificates for the tests' TLS servers and signers (APNs, the egress
 * guard's HTTPS peer, SMTP over TLS, SNS), made with openssl and valid one day.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** `openssl req -x509` with `args` (key type, subject, extensions); the certificate and its key. */
export function opensslCertificate(args: string[]): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'herald-tls-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-nodes',
        '-days',
        '1',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        ...args,
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

/**
 * A P-256 certificate for a TLS server: `commonName` in the subject, `altNames` as openssl
 * writes them (`IP:127.0.0.1`, `DNS:localhost`).
 */
export function selfSignedCertificate(
  commonName = '127.0.0.1',
  altNames = ['IP:127.0.0.1'],
): { cert: string; key: string } {
  return opensslCertificate([
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    `subjectAltName=${altNames.join(',')}`,
  ]);
}
