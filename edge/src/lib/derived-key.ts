const keys = new Map<string, Promise<CryptoKey>>();

/**
 * An HMAC-SHA256 key of its own for one purpose, derived from a secret: HMAC-SHA256(secret, label), made
 * once per (secret, label). Tokens signed with one label can never pass where another label is checked.
 */
export function derivedHmacKey(secret: string, label: string): Promise<CryptoKey> {
  const id = `${label}\u0000${secret}`;
  let key = keys.get(id);
  if (!key) {
    key = (async () => {
      const encoder = new TextEncoder();
      const root = await crypto.subtle.importKey(
        "raw",
        encoder.encode(secret),
        { name: "HMAC", hash: "SHA-256" },
        false,
        ["sign"],
      );
      const derived = await crypto.subtle.sign("HMAC", root, encoder.encode(label));
      return crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, [
        "sign",
        "verify",
      ]);
    })();
    keys.set(id, key);
  }
  return key;
}
