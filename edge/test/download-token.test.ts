import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signAccessToken, signProgressToken } from "../src/auth/tokens.ts";
import { signPlaybackToken, verifyPlaybackToken } from "../src/play/token.ts";
import {
  DOWNLOAD_TOKEN_SECONDS,
  type DownloadGrant,
  signDownloadToken,
  verifyDownloadToken,
} from "../src/videos/download-token.ts";

const SECRET = "s".repeat(32);
const ID = "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d";
const OTHER = "1c6f8e4d-9a6b-4c8f-8d2e-3f4a5b6c7d8e";
const NOW = 1_800_000_000;

describe("download tokens", () => {
  it("sign `<exp>.<o|v>.<base64url HMAC>` with a key derived for downloads, valid 15 minutes by default", async () => {
    const token = await signDownloadToken(ID, "viewer", SECRET, NOW + 60);
    const key = createHmac("sha256", SECRET).update("streamlet download token v1").digest();
    const expected = createHmac("sha256", key)
      .update(`download:${ID}.${NOW + 60}.v`)
      .digest("base64url");
    expect(token).toBe(`${NOW + 60}.v.${expected}`);
    expect(DOWNLOAD_TOKEN_SECONDS).toBe(15 * 60);
    const fresh = await signDownloadToken(ID, "owner", SECRET);
    const exp = Number(fresh.split(".")[0]);
    expect(exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(DOWNLOAD_TOKEN_SECONDS - 5);
    expect(exp - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(DOWNLOAD_TOKEN_SECONDS);
  });

  it("say whom they were handed to", async () => {
    for (const grant of ["owner", "viewer"] as const) {
      const token = await signDownloadToken(ID, grant, SECRET, NOW + 60);
      expect(await verifyDownloadToken(token, ID, SECRET, NOW)).toBe(grant);
      expect(await verifyDownloadToken(token, ID.toUpperCase(), SECRET, NOW)).toBe(grant);
    }
  });

  const viewer = () => signDownloadToken(ID, "viewer", SECRET, NOW + 60);
  const flip = (token: string) => {
    const last = token.at(-2) === "A" ? "B" : "A";
    return `${token.slice(0, -2)}${last}${token.at(-1)}`;
  };

  it.each<[string, () => Promise<string>, string, number, DownloadGrant | null]>([
    ["a valid token", viewer, ID, NOW, "viewer"],
    ["one second before expiry", viewer, ID, NOW + 59, "viewer"],
    ["at expiry", viewer, ID, NOW + 60, null],
    ["after expiry", viewer, ID, NOW + 3600, null],
    ["a malformed id", viewer, "not-a-uuid", NOW, null],
    ["another video's token", () => signDownloadToken(OTHER, "viewer", SECRET, NOW + 60), ID, NOW, null],
    [
      "another secret's token",
      () => signDownloadToken(ID, "viewer", "x".repeat(32), NOW + 60),
      ID,
      NOW,
      null,
    ],
    ["a viewer's token made an owner's", async () => (await viewer()).replace(".v.", ".o."), ID, NOW, null],
    ["a tampered signature", async () => flip(await viewer()), ID, NOW, null],
    ["a moved expiry", async () => (await viewer()).replace(`${NOW + 60}.`, `${NOW + 9999}.`), ID, NOW, null],
    ["a truncated signature", async () => (await viewer()).slice(0, -1), ID, NOW, null],
    ["no grant", async () => (await viewer()).replace(".v.", "."), ID, NOW, null],
    ["an empty string", async () => "", ID, NOW, null],
    ["garbage", async () => "1.v.!!!", ID, NOW, null],
  ])("%s → %s", async (_, make, id, now, grant) => {
    expect(await verifyDownloadToken(await make(), id, SECRET, now)).toBe(grant);
  });

  it("take no other kind of token, and pass as no other kind", async () => {
    const now = Math.floor(Date.now() / 1000);
    const playback = await signPlaybackToken(ID, SECRET, now + 60);
    // A playback signature with a grant spliced in: same shape, another key and message.
    const [exp, signature] = playback.split(".");
    const others = [
      playback,
      `${exp}.v.${signature}`,
      `${exp}.o.${signature}`,
      await signAccessToken(ID, SECRET),
      await signProgressToken(ID, SECRET),
    ];
    for (const token of others) expect(await verifyDownloadToken(token, ID, SECRET)).toBeNull();

    const download = await signDownloadToken(ID, "owner", SECRET, now + 60);
    const [downloadExp, , downloadSignature] = download.split(".");
    expect(await verifyPlaybackToken(download, ID, SECRET)).toBe(false);
    expect(await verifyPlaybackToken(`${downloadExp}.${downloadSignature}`, ID, SECRET)).toBe(false);
  });
});
