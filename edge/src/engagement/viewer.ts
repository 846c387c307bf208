const encoder = new TextEncoder();
/** Domain label of the key derived from JWT_SECRET; changing it starts every anonymous viewer afresh. */
const VIEWER_KEY_LABEL = "streamlet:viewer-hash:v1";

let cachedKey: { secret: string; key: CryptoKey } | undefined;

/**
 * The HMAC key anonymous viewers are hashed with: HMAC-SHA256(JWT_SECRET, label), so the hashes are
 * salted by a secret without a new variable, and JWT_SECRET itself never keys anything but tokens.
 * Kept per isolate (a CryptoKey, not a pending promise, so no request waits on another's work).
 */
async function viewerHashKey(secret: string): Promise<CryptoKey> {
  if (cachedKey?.secret === secret) return cachedKey.key;
  const root = await hmacKey(encoder.encode(secret));
  const derived = await crypto.subtle.sign("HMAC", root, encoder.encode(VIEWER_KEY_LABEL));
  const key = await hmacKey(new Uint8Array(derived));
  cachedKey = { secret, key };
  return key;
}

function hmacKey(raw: BufferSource): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

export type Viewer = {
  userId: string | null;
  /** The client's address key (byClientIp: `ip:<IPv4>`, `ip:<IPv6 /64>::/64`, or a shared fallback). */
  address: string;
};

/**
 * Who a view is counted for: the user id when signed in, else a salted hash of the client address (the
 * raw address is never stored). Only the address: a User-Agent is the client's to choose, so twenty of
 * them from one address are still one viewer. The ViewCounter remembers these keys for 30 minutes.
 */
export async function viewerKey(viewer: Viewer, secret: string): Promise<string> {
  if (viewer.userId !== null) return `user:${viewer.userId}`;
  const mac = await crypto.subtle.sign("HMAC", await viewerHashKey(secret), encoder.encode(viewer.address));
  return `anon:${Array.from(new Uint8Array(mac), (byte) => byte.toString(16).padStart(2, "0")).join("")}`;
}
