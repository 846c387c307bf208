import type { lookup as dnsLookup, LookupAddress, LookupOptions } from "node:dns";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { type AddressPolicy, checkAddress, describeKind } from "./address-policy.ts";
import { ImportError } from "./import-error.ts";

/**
 * One hop of an import, checked before any connection: the scheme, the port, and every address its
 * host resolves to. The connection then goes to those addresses only (pinnedLookup), so a DNS answer
 * that changes between the check and the connect (rebinding) is never used.
 */

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses (tests inject one; the default asks the system). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: Resolver = async (hostname) => {
  const answers = await lookup(hostname, { all: true, order: "verbatim" });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** A hop that passed the checks: connect to `addresses` only. */
export interface CheckedTarget {
  url: URL;
  /** The host without IPv6 brackets. */
  hostname: string;
  addresses: ResolvedAddress[];
}

/**
 * Ports browsers refuse to fetch from (the Fetch standard's "bad ports": SMTP, IRC, SIP…), so an
 * import can't be aimed at a non-HTTP service on a public host; every other port is allowed, since
 * origins and CDNs do serve files on 8080, 8443 or others, and the address checks are what keep
 * imports off internal services.
 */
const BAD_PORTS = new Set([
  0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104,
  109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515,
  526, 530, 531, 532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049,
  3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
]);

/** Parses and checks a URL's form: http(s), no credentials, an allowed port. */
export function checkUrlForm(raw: string, base: URL | undefined): URL {
  const redirect = base !== undefined;
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw new ImportError(
      "invalid_url",
      redirect ? "the URL redirects to an address that is not a valid URL" : "the URL is not valid",
      false,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ImportError(
      "unsupported_scheme",
      redirect
        ? `the URL redirects to a URL of another scheme (${url.protocol}); only http and https URLs can be imported`
        : `only http and https URLs can be imported, not ${url.protocol} URLs`,
      false,
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw new ImportError(
      "invalid_url",
      redirect
        ? "the URL redirects to a URL with a user name or password, which is not accepted"
        : "URLs with a user name or password are not accepted",
      false,
    );
  }
  const port = url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
  if (BAD_PORTS.has(port)) {
    throw new ImportError(
      "url_forbidden",
      redirect
        ? `the URL redirects to port ${port}, which is not allowed`
        : `the URL's port ${port} is not allowed`,
      false,
    );
  }
  return url;
}

/** Resolves the URL's host (unless it is an address) and checks every address it resolves to. */
export async function checkTarget(
  url: URL,
  redirect: boolean,
  policy: AddressPolicy,
  resolve: Resolver,
): Promise<CheckedTarget> {
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const literal = isIP(hostname);
  let addresses: ResolvedAddress[];
  if (literal !== 0) {
    addresses = [{ address: hostname, family: literal === 6 ? 6 : 4 }];
  } else {
    addresses = await resolveHost(hostname, resolve);
  }
  for (const { address } of addresses) {
    const verdict = checkAddress(address, policy);
    if (verdict.allowed) continue;
    const kind = describeKind(verdict.kind);
    // An address the user wrote is shown back; one DNS answered for a name is kept for the logs
    // (it would tell the user how the node's network resolves internal names).
    const message =
      literal !== 0
        ? `${redirect ? "the URL redirects to" : "the URL points to"} ${kind} (${verdict.address}), which is not allowed`
        : redirect
          ? `the URL redirects to ${hostname}, a host that resolves to ${kind}, which is not allowed`
          : `the URL's host ${hostname} resolves to ${kind}, which is not allowed`;
    throw new ImportError("url_forbidden", message, false, {
      detail: `${hostname} → ${addresses.map((a) => a.address).join(", ")}; refused ${verdict.address} (${verdict.kind})`,
    });
  }
  return { url, hostname, addresses };
}

async function resolveHost(hostname: string, resolve: Resolver): Promise<ResolvedAddress[]> {
  let addresses: ResolvedAddress[];
  try {
    addresses = await resolve(hostname);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === "ENOTFOUND" || code === "ENODATA") {
      throw new ImportError("host_not_found", `the host ${hostname} was not found`, false, {
        cause: err,
        detail: String(code),
      });
    }
    throw new ImportError("unreachable", `the host name ${hostname} could not be looked up`, true, {
      cause: err,
      detail: String(code ?? err),
    });
  }
  if (addresses.length === 0) {
    throw new ImportError("host_not_found", `the host ${hostname} was not found`, false);
  }
  return addresses;
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for net/tls.connect that answers only the checked addresses of the checked host: the
 * socket cannot reach anything the policy did not see (no second DNS query to rebind).
 */
export function pinnedLookup(target: CheckedTarget): typeof dnsLookup {
  const fn = (hostname: string, options: LookupOptions, callback: LookupCallback) => {
    const wanted = options.family === "IPv4" ? 4 : options.family === "IPv6" ? 6 : options.family;
    const addresses = target.addresses.filter((a) => !wanted || a.family === wanted);
    const first = addresses[0];
    if (hostname !== target.hostname || first === undefined) {
      const err: NodeJS.ErrnoException = new Error(`no checked address for ${hostname}`);
      err.code = "ENOTFOUND";
      process.nextTick(callback, err, options.all ? [] : "", 0);
      return;
    }
    if (options.all) process.nextTick(callback, null, addresses);
    else process.nextTick(callback, null, first.address, first.family);
  };
  return fn as unknown as typeof dnsLookup;
}
