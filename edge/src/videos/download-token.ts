import { requireCanonicalId as canonical, canonicalId } from "@streamlet/shared";
import { fromBase64Url, toBase64Url } from "../lib/bytes.ts";
import { derivedHmacKey } from "../lib/derived-key.ts";

/** Seconds a download URL stays valid: enough to start the download, short enough to be worthless shared. */
export const DOWNLOAD_TOKEN_SECONDS = 15 * 60;

/**
 * Whom the URL was handed to: the video's owner (who may download a private video, or one with downloads
 * turned off) or any other viewer (whose URL stops working when either changes).
 */
export type DownloadGrant = "owner" | "viewer";

// A key of its own, derived from JWT_SECRET, so a download signature can never pass as any other token
// (playback tokens use another label, access tokens the secret itself) and no other token passes here.
const KEY_LABEL = "streamlet download token v1";
const GRANT_CODES = { owner: "o", viewer: "v" } as const satisfies Record<DownloadGrant, string>;
const TOKEN = /^(\d{1,12})\.([ov])\.([A-Za-z0-9_-]{43})$/;
/** What the signature covers: the purpose, the video, the expiry and the grant, so it signs nothing else. */
const signedMessage = (videoId: string, exp: number, grant: DownloadGrant) =>
  new TextEncoder().encode(`download:${videoId}.${exp}.${GRANT_CODES[grant]}`);

/** The HMAC key for download tokens, derived once per secret: HMAC-SHA256(JWT_SECRET, label). */
function downloadKey(secret: string): Promise<CryptoKey> {
  return derivedHmacKey(secret, KEY_LABEL);
}

/** Now in epoch seconds, the unit of a token's expiry. */
export const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * A token (`<exp>.<o|v>.<base64url HMAC of "download:<canonical videoId>.<exp>.<o|v>">`) for one video's
 * download URL; it rides in the path, like a playback token.
 */
export async function signDownloadToken(
  videoId: string,
  grant: DownloadGrant,
  secret: string,
  exp = nowSeconds() + DOWNLOAD_TOKEN_SECONDS,
): Promise<string> {
  const message = signedMessage(canonical(videoId), exp, grant);
  const signature = await crypto.subtle.sign("HMAC", await downloadKey(secret), message);
  return `${exp}.${GRANT_CODES[grant]}.${toBase64Url(new Uint8Array(signature))}`;
}

/**
 * Whom a well-formed, unexpired token signed for this video was handed to; null for anything else
 * (compared in constant time).
 */
export async function verifyDownloadToken(
  token: string,
  videoId: string,
  secret: string,
  now = nowSeconds(),
): Promise<DownloadGrant | null> {
  const match = TOKEN.exec(token);
  if (!match?.[1] || !match[2] || !match[3]) return null;
  const exp = Number(match[1]);
  if (exp <= now) return null;
  const signature = fromBase64Url(match[3]);
  if (signature?.byteLength !== 32) return null;
  const id = canonicalId(videoId);
  if (id === null) return null;
  const grant: DownloadGrant = match[2] === GRANT_CODES.owner ? "owner" : "viewer";
  // crypto.subtle.verify compares the MACs in constant time.
  const valid = await crypto.subtle.verify(
    "HMAC",
    await downloadKey(secret),
    signature,
    signedMessage(id, exp, grant),
  );
  return valid ? grant : null;
}
