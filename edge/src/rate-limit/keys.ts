/**
 * The key requests without a trusted client address share: every request where TRUST_CF_CONNECTING_IP
 * is off, and requests with no CF-Connecting-IP (handed to the Worker directly, as the workers test
 * pool's `exports.default.fetch` does). Cloudflare sets the header on every request in production;
 * `wrangler dev` sets it to the caller's address but keeps one the client sent.
 */
export const LOCAL_KEY = "local";

/**
 * The counter key of a client address (the CF-Connecting-IP header): `ip:<IPv4>`, `ip:<first 64 bits>::/64`
 * for IPv6 (one subscriber usually holds a whole /64, so counting single addresses would give them
 * billions of counters), IPv4-mapped IPv6 as its IPv4, `local` when there is none and `ip:unknown` for
 * anything unparseable.
 */
export function ipKey(header: string | null | undefined): string {
  const text = (header ?? "").trim();
  if (text === "") return LOCAL_KEY;
  const v4 = ipv4(text);
  if (v4) return `ip:${v4.join(".")}`;
  const v6 = ipv6(text);
  if (!v6) return "ip:unknown";
  const mapped = v6.slice(0, 5).every((group) => group === 0) && v6[5] === 0xffff;
  if (mapped) {
    const [high = 0, low = 0] = v6.slice(6);
    return `ip:${[high >> 8, high & 0xff, low >> 8, low & 0xff].join(".")}`;
  }
  return `ip:${v6
    .slice(0, 4)
    .map((group) => group.toString(16))
    .join(":")}::/64`;
}

/** The counter key of an account, from the already-normalised (trimmed, lower-case) email. */
export function accountKey(email: string): string {
  return `email:${email}`;
}

function ipv4(text: string): number[] | null {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return null;
  const octets = text.split(".").map(Number);
  return octets.every((octet) => octet <= 255) ? octets : null;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped, embedded IPv4 tail allowed), or null. */
function ipv6(text: string): number[] | null {
  let address = text.toLowerCase().replace(/%.*$/, "");
  const tail = /:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(address);
  if (tail?.[1]) {
    const octets = ipv4(tail[1]);
    if (!octets) return null;
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    address = `${address.slice(0, tail.index + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = address.split("::");
  if (halves.length > 2) return null;
  const parts = (half: string | undefined) => (half ? half.split(":") : []);
  const head = parts(halves[0]);
  const rest = parts(halves[1]);
  const missing = 8 - head.length - rest.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const groups = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return null;
  return groups.map((group) => Number.parseInt(group, 16));
}
