/**
 * The egress guard's address check and allow-list, as pure functions: every range that must
 * never be reached from a user-supplied URL, in each of its spellings. No packet is sent (the
 * ranges other than loopback are only ever tested here, or with a transport that throws:
 * egress.test.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { embeddedIPv4, isPublicAddress } from '../src/net/address.js';
import { allowEntryProblem, makeAllowList } from '../src/net/allow.js';
import { resolveConfig } from '../src/config.js';

describe('egress address check', () => {
  it('refuses loopback, private, link-local, CGNAT, multicast, broadcast, unspecified, reserved', () => {
    for (const ip of [
      '127.0.0.1',
      '127.255.255.254',
      '10.0.0.1',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.169.254', // cloud metadata
      '169.254.0.1',
      '100.64.0.1',
      '100.127.255.255',
      '0.0.0.0',
      '0.1.2.3',
      '224.0.0.1',
      '239.255.255.250',
      '255.255.255.255',
      '240.0.0.1',
      '192.0.0.8',
      '192.0.2.1',
      '198.18.0.1',
      '198.51.100.7',
      '203.0.113.9',
      '::',
      '::1',
      'fe80::1',
      'fe80::1%eth0',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      'fec0::1', // site-local (deprecated)
      '100::1', // discard-only
      '2001:db8::1',
      '2001::1', // Teredo
      '2002:7f00:1::1', // 6to4 of 127.0.0.1
      '64:ff9b:1::1', // local-use NAT64
      '3fff::1',
    ])
      assert.equal(isPublicAddress(ip), false, ip);
  });

  it('judges IPv4-mapped, IPv4-compatible, SIIT and NAT64 forms by their IPv4 address', () => {
    for (const ip of [
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '0:0:0:0:0:ffff:7f00:1',
      '::ffff:10.0.0.1',
      '::ffff:169.254.169.254',
      '::ffff:0:127.0.0.1', // SIIT
      '::127.0.0.1', // IPv4-compatible (deprecated: all refused)
      '::8.8.8.8',
      '64:ff9b::127.0.0.1', // NAT64
      '64:ff9b::a9fe:a9fe', // NAT64 of the metadata address
      '64:ff9b::a00:1',
    ])
      assert.equal(isPublicAddress(ip), false, ip);
    for (const ip of ['::ffff:8.8.8.8', '64:ff9b::808:808', '64:ff9b::1.1.1.1'])
      assert.equal(isPublicAddress(ip), true, ip);
    assert.equal(embeddedIPv4('::ffff:7f00:1'), '127.0.0.1');
    assert.equal(embeddedIPv4('64:ff9b::a9fe:a9fe'), '169.254.169.254');
    assert.equal(embeddedIPv4('2606:4700::1'), null);
  });

  it('lets the public internet through, at the edges of the ranges too', () => {
    for (const ip of [
      '8.8.8.8',
      '1.1.1.1',
      '93.184.216.34',
      '100.63.255.255',
      '100.128.0.0',
      '172.15.255.255',
      '172.32.0.0',
      '169.253.255.255',
      '223.255.255.255',
      '2606:4700:4700::1111',
      '2a00:1450:4001::1',
    ])
      assert.equal(isPublicAddress(ip), true, ip);
    for (const junk of ['', 'localhost', '127.1', '[::1]', '1.2.3.4.5', 'example.com'])
      assert.equal(isPublicAddress(junk), false, junk);
  });

  it('the odd spellings of loopback are all loopback once a URL is parsed', () => {
    for (const host of [
      '127.1',
      '127.0.1',
      '0x7f000001',
      '0x7f.1',
      '2130706433',
      '0177.0.0.1',
      '0177.1',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '[0:0:0:0:0:ffff:7f00:1]',
      '0',
      '0.0.0.0',
    ]) {
      const hostname = new URL(`https://${host}:8443/`).hostname.replace(/^\[(.*)\]$/, '$1');
      assert.equal(isPublicAddress(hostname), false, `${host} → ${hostname}`);
    }
  });
});

describe('egress allow-list', () => {
  it('matches CIDRs (and mapped forms of them) and exact host names', () => {
    const allow = makeAllowList([
      '127.0.0.1/32',
      '10.20.0.0/16',
      'fd00::/8',
      '192.168.7.7',
      'Hooks.Corp.Example',
    ]);
    assert.equal(allow.allowsAddress('127.0.0.1'), true);
    assert.equal(allow.allowsAddress('::ffff:127.0.0.1'), true);
    assert.equal(allow.allowsAddress('127.0.0.2'), false);
    assert.equal(allow.allowsAddress('10.20.255.1'), true);
    assert.equal(allow.allowsAddress('10.21.0.1'), false);
    assert.equal(allow.allowsAddress('fd12::1'), true);
    assert.equal(allow.allowsAddress('192.168.7.7'), true);
    assert.equal(allow.allowsAddress('169.254.169.254'), false);
    assert.equal(allow.allowsHost('hooks.corp.example'), true);
    assert.equal(allow.allowsHost('evil.hooks.corp.example'), false);
    const none = makeAllowList();
    assert.equal(none.allowsAddress('127.0.0.1'), false, 'loopback is never allowed by default');
  });

  it('checks entries, and HERALD_EGRESS_ALLOW is comma-separated', () => {
    for (const ok of ['127.0.0.1/32', '::1/128', '10.0.0.0/8', '10.0.0.5', 'hooks.internal', 'gw'])
      assert.equal(allowEntryProblem(ok), null, ok);
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/x', 'a/b/c', 'http://x', 'bad host', '*'])
      assert.notEqual(allowEntryProblem(bad), null, bad);
    const env = (HERALD_EGRESS_ALLOW: string) =>
      resolveConfig({ env: { HERALD_EGRESS_ALLOW }, noFile: true });
    assert.deepEqual(env(' 127.0.0.1/32, hooks.internal ,').egressAllow, [
      '127.0.0.1/32',
      'hooks.internal',
    ]);
    assert.deepEqual(resolveConfig({ env: {}, noFile: true }).egressAllow, []);
    assert.throws(() => env('10.0.0.0/40'), /egressAllow.*the prefix length must be 0 to 32/);
  });
});
