/**
 * Which IP addresses an outbound request to a user-supplied URL may reach: the public
 * internet only. Pure functions, no I/O (egress.ts resolves names and calls these).
 *
 * The rule is an allow rule, not a list of bad ranges: IPv4 is public unless it is in one of
 * IANA's special-purpose blocks (RFC 6890 and its updates); IPv6 is public only inside global
 * unicast 2000::/3, minus its special blocks. So a range nobody thought of (a new reserved
 * block, a site-local fec0::/10) is refused rather than let through.
 *
 * IPv6 forms that carry an IPv4 address are judged by that address: IPv4-mapped
 * (`::ffff:127.0.0.1`), SIIT-translated (`::ffff:0:a.b.c.d`) and the NAT64 well-known prefix
 * (`64:ff9b::a.b.c.d`, which DNS64 networks give for public IPv4 hosts). The deprecated
 * IPv4-compatible `::a.b.c.d`, 6to4 (2002::/16) and Teredo (2001::/32) are refused outright.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** IPv4 blocks that are not the public internet (IANA IPv4 Special-Purpose Address Registry). */
const IPV4_SPECIAL: [string, number][] = [
  ['0.0.0.0', 8], // "this network", incl. 0.0.0.0 (unspecified: Linux connects it to loopback)
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // carrier-grade NAT (RFC 6598)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, incl. cloud metadata 169.254.169.254
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.31.196.0', 24], // AS112
  ['192.52.193.0', 24], // AMT
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // private
  ['192.175.48.0', 24], // AS112 direct delegation
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, incl. broadcast 255.255.255.255
];

/** Special blocks inside 2000::/3 (IANA IPv6 Special-Purpose Address Registry). */
const IPV6_SPECIAL: [string, number][] = [
  ['2001::', 23], // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID...
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: carries an IPv4 address a relay would reach
  ['3fff::', 20], // documentation (RFC 9637)
  ['5f00::', 16], // SRv6 SIDs
];

const v4Special = new BlockList();
for (const [net, prefix] of IPV4_SPECIAL) v4Special.addSubnet(net, prefix, 'ipv4');
const v6Special = new BlockList();
for (const [net, prefix] of IPV6_SPECIAL) v6Special.addSubnet(net, prefix, 'ipv6');
const globalUnicast = new BlockList();
globalUnicast.addSubnet('2000::', 3, 'ipv6');

/** The 16 bytes of an IPv6 address (as `net.isIPv6` accepts it, zone id removed), or null. */
export function ipv6Bytes(ip: string): Uint8Array | null {
  const text = ip.replace(/%.*$/, '');
  if (!isIPv6(text)) return null;
  const [head = '', tail] = text.split('::');
  const groups = (part: string | undefined): number[] => {
    if (!part) return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const front = groups(head);
  const back = groups(tail);
  const all = [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

const startsWith = (bytes: Uint8Array, prefix: number[]) => prefix.every((b, i) => bytes[i] === b);

/**
 * The IPv4 address an IPv6 address stands for, when it is IPv4-mapped (::ffff:0:0/96),
 * SIIT-translated (::ffff:0:0:0/96) or NAT64 well-known (64:ff9b::/96); else null.
 */
export function embeddedIPv4(ip: string): string | null {
  const b = ipv6Bytes(ip);
  if (!b) return null;
  const zeros = (n: number) => new Array<number>(n).fill(0);
  const carries =
    startsWith(b, [...zeros(10), 0xff, 0xff]) ||
    startsWith(b, [...zeros(8), 0xff, 0xff, 0, 0]) ||
    startsWith(b, [0, 0x64, 0xff, 0x9b, ...zeros(8)]);
  return carries ? `${b[12]}.${b[13]}.${b[14]}.${b[15]}` : null;
}

/**
 * Whether `ip` (an IPv4 or IPv6 address, no brackets) is on the public internet. Anything
 * that is not an address at all is not.
 */
export function isPublicAddress(ip: string): boolean {
  if (isIPv4(ip)) return !v4Special.check(ip, 'ipv4');
  const bare = ip.replace(/%.*$/, '');
  if (!isIPv6(bare)) return false;
  const v4 = embeddedIPv4(bare);
  if (v4 !== null) return isPublicAddress(v4);
  return globalUnicast.check(bare, 'ipv6') && !v6Special.check(bare, 'ipv6');
}
