import { requireCanonicalId as canonical, canonicalId } from "@streamlet/shared";
import { fromBase64Url, toBase64Url } from "../lib/bytes.ts";
import { derivedHmacKey } from "../lib/derived-key.ts";
import { isPlayable, type PlayableFields } from "./playable.ts";

/** Seconds a playback token stays valid: long enough to watch a long video after loading the page. */
export const PLAYBACK_TOKEN_SECONDS = 6 * 60 * 60;

// A key of its own, derived from JWT_SECRET, so a playback signature can never pass as any other token.
const KEY_LABEL = "streamlet playback token v1";
const TOKEN = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/;
/** What the signature covers: the purpose, then the video and expiry, so it signs nothing else. */
const signedMessage = (videoId: string, exp: number) =>
  new TextEncoder().encode(`playback:${videoId}.${exp}`);

/** The HMAC key for playback tokens, derived once per secret: HMAC-SHA256(JWT_SECRET, label). */
function playbackKey(secret: string): Promise<CryptoKey> {
  return derivedHmacKey(secret, KEY_LABEL);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * A token (`<exp>.<base64url HMAC of "playback:<canonical videoId>.<exp>">`) that unlocks a private video's delivery URLs;
 * it rides in the path, so every relative URI of the playlists inherits it.
 */
export async function signPlaybackToken(
  videoId: string,
  secret: string,
  exp = nowSeconds() + PLAYBACK_TOKEN_SECONDS,
): Promise<string> {
  const message = signedMessage(canonical(videoId), exp);
  const signature = await crypto.subtle.sign("HMAC", await playbackKey(secret), message);
  return `${exp}.${toBase64Url(new Uint8Array(signature))}`;
}

/** True only for a well-formed, unexpired token signed for this video (compared in constant time). */
export async function verifyPlaybackToken(
  token: string,
  videoId: string,
  secret: string,
  now = nowSeconds(),
): Promise<boolean> {
  const match = TOKEN.exec(token);
  if (!match?.[1] || !match[2]) return false;
  const exp = Number(match[1]);
  if (exp <= now) return false;
  const signature = fromBase64Url(match[2]);
  if (signature?.byteLength !== 32) return false;
  const id = canonicalId(videoId);
  if (id === null) return false;
  const message = signedMessage(id, exp);
  // crypto.subtle.verify compares the MACs in constant time.
  return crypto.subtle.verify("HMAC", await playbackKey(secret), signature, message);
}

/**
 * The token for a video's playback URLs: only a playable (ready, or processing and playable) private video
 * needs one (its owner gets it).
 */
export async function playbackTokenFor(
  row: PlayableFields & { id: string; visibility: string },
  secret: string,
): Promise<string | undefined> {
  if (!isPlayable(row) || row.visibility !== "private") return undefined;
  return signPlaybackToken(row.id, secret);
}
