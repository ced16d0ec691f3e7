/**
 * The egress allow-list (`HERALD_EGRESS_ALLOW`, config `egressAllow`): what the operator lets
 * outbound requests reach although it is not public (an on-premise gateway, a test server on
 * 127.0.0.1). Entries are CIDRs (`10.20.0.0/16`, `127.0.0.1/32`, `fd00::/8`), single addresses
 * (`10.0.0.5`), or host names (`hooks.corp.example`, matched exactly, case-insensitive).
 * Empty by default: nothing that is not public, loopback included.
 */
import { BlockList, isIP } from 'node:net';
import { embeddedIPv4 } from './address.js';

export interface AllowList {
  /** Whether the URL's host name (lower case, no trailing dot, no brackets) is listed. */
  allowsHost(hostname: string): boolean;
  /** Whether the address is inside a listed CIDR (IPv4-mapped forms count as their IPv4). */
  allowsAddress(ip: string): boolean;
}

const HOST_NAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** Why `entry` is not an allow-list entry, or null when it is one. */
export function allowEntryProblem(entry: string): string | null {
  const [net, prefix, extra] = entry.split('/');
  if (net === undefined || extra !== undefined) return `"${entry}" is not a CIDR or host name`;
  const family = isIP(net);
  if (family === 0) {
    if (prefix === undefined && HOST_NAME.test(net.toLowerCase())) return null;
    return `"${entry}" is not a CIDR (10.0.0.0/8, fd00::/8), an address or a host name`;
  }
  if (prefix === undefined) return null;
  const bits = Number(prefix);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || bits > max)
    return `"${entry}": the prefix length must be 0 to ${max}`;
  return null;
}

/** The allow-list of `entries` (each checked by `allowEntryProblem` first: config.ts does). */
export function makeAllowList(entries: readonly string[] = []): AllowList {
  const nets = new BlockList();
  const hosts = new Set<string>();
  for (const entry of entries) {
    const [net = '', prefix] = entry.split('/');
    const family = isIP(net);
    if (family === 0) hosts.add(net.toLowerCase().replace(/\.$/, ''));
    else
      nets.addSubnet(
        net,
        prefix === undefined ? (family === 4 ? 32 : 128) : Number(prefix),
        family === 4 ? 'ipv4' : 'ipv6',
      );
  }
  return {
    allowsHost: (hostname) => hosts.has(hostname),
    allowsAddress(ip) {
      const v4 = isIP(ip) === 6 ? embeddedIPv4(ip) : null;
      if (v4 !== null && nets.check(v4, 'ipv4')) return true;
      return isIP(ip) !== 0 && nets.check(ip, isIP(ip) === 4 ? 'ipv4' : 'ipv6');
    },
  };
}
