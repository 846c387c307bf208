import ipaddr from "ipaddr.js";

/**
 * Which network addresses a URL import may connect to. Deny by default: an address must be public
 * unicast (ipaddr.js classifies the special ranges), or fall in an explicitly allowed CIDR; cloud
 * metadata endpoints are refused even then.
 */

type IP = ipaddr.IPv4 | ipaddr.IPv6;

/** One allowed CIDR, parsed. */
export interface AllowedRange {
  readonly cidr: string;
  readonly range: [IP, number];
}

/** The import's address policy: the ranges allowed although not public (empty by default). */
export interface AddressPolicy {
  readonly allowed: readonly AllowedRange[];
}

export const DEFAULT_ADDRESS_POLICY: AddressPolicy = Object.freeze({ allowed: [] });

/**
 * Instance metadata and host-agent endpoints, refused even when an allowed range covers them (a
 * private deployment that allows 169.254.0.0/16 or fd00::/8 must not hand out the node's credentials).
 * 168.63.129.16 (Azure's WireServer) is a public address reachable only from inside Azure.
 */
const METADATA_ADDRESSES: readonly string[] = [
  "169.254.169.254", // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle…
  "169.254.170.2", // AWS ECS task metadata and credentials
  "169.254.170.23", // AWS EKS Pod Identity
  "100.100.100.200", // Alibaba Cloud
  "192.0.0.192", // Oracle Cloud (legacy)
  "168.63.129.16", // Azure WireServer
  "fd00:ec2::254", // AWS IMDS over IPv6
  "fd00:ec2::23", // AWS EKS Pod Identity over IPv6
].map((a) => ipaddr.parse(a).toNormalizedString());

/** IPv6 global unicast (2000::/3): anything else IPv6 that ipaddr.js calls "unicast" is unassigned. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");

/** Words for the ranges, as the user reads them: "a <kind> address". */
const KIND_WORDS: Record<string, string> = {
  loopback: "loopback",
  private: "private",
  uniqueLocal: "private (unique local)",
  linkLocal: "link-local",
  carrierGradeNat: "carrier-grade NAT",
  multicast: "multicast",
  broadcast: "broadcast",
  unspecified: "unspecified",
  metadata: "cloud metadata",
};

/**
 * Parses the allow-list setting (IMPORT_ALLOWED_ADDRESSES): comma-separated CIDRs ("127.0.0.1/32,
 * 10.20.0.0/16, fd12::/16"); a bare address means that one address. Empty or unset: nothing allowed
 * beyond public addresses. Throws on an invalid entry, so a typo fails the node at start-up.
 */
export function parseAllowedAddresses(value: string | undefined): AllowedRange[] {
  if (!value) return [];
  return value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map((entry) => {
      try {
        // IPv4 in four decimal parts only: ipaddr.js would also read "10.1/16" as 10.0.0.1/16.
        const [address] = entry.split("/");
        if (ipaddr.IPv4.isIPv4(address ?? "") && !ipaddr.IPv4.isValidFourPartDecimal(address ?? "")) {
          throw new Error("not four-part decimal");
        }
        if (entry.includes("/")) {
          const [ip, bits] = ipaddr.parseCIDR(entry);
          return { cidr: `${ip.toString()}/${bits}`, range: [ip, bits] };
        }
        const ip = ipaddr.parse(entry);
        const bits = ip.kind() === "ipv4" ? 32 : 128;
        return { cidr: `${ip.toString()}/${bits}`, range: [ip, bits] };
      } catch {
        throw new Error(
          `IMPORT_ALLOWED_ADDRESSES: "${entry}" is not a CIDR (e.g. 10.0.0.0/8) or an IP address`,
        );
      }
    });
}

/** The verdict on one address: allowed, or refused with the kind of range it is in. */
export type AddressVerdict = { allowed: true } | { allowed: false; kind: string; address: string };

function inRange(ip: IP, [net, bits]: [IP, number]): boolean {
  return ip.kind() === net.kind() && ip.match(net, bits);
}

/**
 * Whether the import may connect to `address` (an IP literal, as DNS answered it). IPv4-mapped IPv6
 * addresses (::ffff:10.0.0.1) are judged as the IPv4 address they reach; NAT64, 6to4 and Teredo
 * addresses, which embed an IPv4 address, are not public unicast and are refused unless allowed.
 */
export function checkAddress(address: string, policy: AddressPolicy): AddressVerdict {
  let ip: IP;
  try {
    ip = ipaddr.parse(address);
  } catch {
    return { allowed: false, kind: "reserved", address };
  }
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) {
    ip = (ip as ipaddr.IPv6).toIPv4Address();
  }
  const shown = ip.toString();
  if (METADATA_ADDRESSES.includes(ip.toNormalizedString())) {
    return { allowed: false, kind: "metadata", address: shown };
  }
  const range = ip.range();
  const publicUnicast =
    range === "unicast" && (ip.kind() === "ipv4" || inRange(ip, GLOBAL_UNICAST_V6 as [IP, number]));
  if (publicUnicast) return { allowed: true };
  // An allowed range matches the address as written or as the IPv4 address it maps to.
  const original = ipaddr.parse(address);
  if (policy.allowed.some((a) => inRange(ip, a.range) || inRange(original, a.range))) {
    return { allowed: true };
  }
  return { allowed: false, kind: range, address: shown };
}

/** "a private address", "a cloud metadata address"…: the verdict's kind in the user's words. */
export function describeKind(kind: string): string {
  const words = KIND_WORDS[kind] ?? "reserved";
  return `${/^[aeiou]/.test(words) ? "an" : "a"} ${words} address`;
}
