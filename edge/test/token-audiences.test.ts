import { sign } from "hono/jwt";
import { describe, expect, it } from "vitest";
import {
  ACCESS_AUDIENCE,
  newRefreshToken,
  PROGRESS_AUDIENCE,
  signAccessToken,
  signProgressToken,
  verifyAccessToken,
  verifyProgressToken,
} from "../src/auth/tokens.ts";
import { toBase64Url } from "../src/lib/bytes.ts";
import { signPlaybackToken, verifyPlaybackToken } from "../src/play/token.ts";

const SECRET = "s".repeat(32);
const ID = "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d";
const now = Math.floor(Date.now() / 1000);

/** Every kind of token the edge hands out, all for the same subject and secret. */
async function tokens() {
  return {
    access: await signAccessToken(ID, SECRET),
    progress: await signProgressToken(ID, SECRET),
    playback: await signPlaybackToken(ID, SECRET),
    refresh: (await newRefreshToken()).token,
  };
}

describe("token audiences: no kind of token passes where another is expected", () => {
  it("access tokens carry their own audience", async () => {
    const { access } = await tokens();
    const payload = JSON.parse(atob((access.split(".")[1] ?? "").replace(/-/g, "+").replace(/_/g, "/")));
    expect(payload.aud).toBe(ACCESS_AUDIENCE);
    expect(await verifyAccessToken(access, SECRET)).toBe(ID);
  });

  it("takes only an access token as an access token", async () => {
    const { progress, playback, refresh } = await tokens();
    for (const token of [progress, playback, refresh])
      expect(await verifyAccessToken(token, SECRET)).toBeNull();
    // Without an audience (as before audiences), or with another one, a JWT is not an access token.
    const bare = await sign({ sub: ID, iat: now, exp: now + 60 }, SECRET, "HS256");
    const both = await sign(
      { sub: ID, aud: [ACCESS_AUDIENCE, PROGRESS_AUDIENCE], exp: now + 60 },
      SECRET,
      "HS256",
    );
    for (const token of [bare, both]) expect(await verifyAccessToken(token, SECRET)).toBeNull();
  });

  it("takes only a progress token as a progress token", async () => {
    const { access, playback, refresh } = await tokens();
    for (const token of [access, playback, refresh])
      expect(await verifyProgressToken(token, SECRET)).toBeNull();
  });

  it("takes only a playback token as a playback token", async () => {
    const { access, progress, refresh } = await tokens();
    for (const token of [access, progress, refresh]) {
      expect(await verifyPlaybackToken(token, ID, SECRET)).toBe(false);
    }
    expect(await verifyPlaybackToken(await signPlaybackToken(ID, SECRET), ID, SECRET)).toBe(true);
  });

  it("signs playback tokens over a purpose prefix: an HMAC of the bare '<id>.<exp>' is refused", async () => {
    const exp = now + 3600;
    const encoder = new TextEncoder();
    const root = await crypto.subtle.importKey(
      "raw",
      encoder.encode(SECRET),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const derived = await crypto.subtle.sign("HMAC", root, encoder.encode("streamlet playback token v1"));
    const key = await crypto.subtle.importKey("raw", derived, { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
    ]);
    const sign = async (message: string) =>
      `${exp}.${toBase64Url(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message))))}`;
    expect(await verifyPlaybackToken(await sign(`playback:${ID}.${exp}`), ID, SECRET)).toBe(true);
    expect(await verifyPlaybackToken(await sign(`${ID}.${exp}`), ID, SECRET)).toBe(false);
  });
});
