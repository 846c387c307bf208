import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { PLAYBACK_TOKEN_SECONDS, signPlaybackToken, verifyPlaybackToken } from "../src/play/token.ts";

const SECRET = "s".repeat(32);
const ID = "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d";
const OTHER = "1c6f8e4d-9a6b-4c8f-8d2e-3f4a5b6c7d8e";
const NOW = 1_800_000_000;

describe("playback tokens", () => {
  it("signs `<exp>.<base64url HMAC>` with a key derived from the secret, valid 6 hours by default", async () => {
    const token = await signPlaybackToken(ID, SECRET, NOW + 60);
    const key = createHmac("sha256", SECRET).update("streamlet playback token v1").digest();
    const expected = createHmac("sha256", key)
      .update(`playback:${ID}.${NOW + 60}`)
      .digest("base64url");
    expect(token).toBe(`${NOW + 60}.${expected}`);
    expect(PLAYBACK_TOKEN_SECONDS).toBe(6 * 3600);
    const fresh = await signPlaybackToken(ID, SECRET);
    const exp = Number(fresh.split(".")[0]);
    expect(exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(PLAYBACK_TOKEN_SECONDS - 5);
  });

  it("signs the canonical id: an upper-case id gets the same token", async () => {
    expect(await signPlaybackToken(ID.toUpperCase(), SECRET, NOW + 60)).toBe(
      await signPlaybackToken(ID, SECRET, NOW + 60),
    );
    await expect(signPlaybackToken("not-a-uuid", SECRET)).rejects.toThrow(TypeError);
  });

  const valid = () => signPlaybackToken(ID, SECRET, NOW + 60);
  const flip = (token: string) => {
    const last = token.at(-2) === "A" ? "B" : "A";
    return `${token.slice(0, -2)}${last}${token.at(-1)}`;
  };

  it.each<[string, () => Promise<string>, string, number, boolean]>([
    ["a valid token", valid, ID, NOW, true],
    ["a valid token, upper-case id", valid, ID.toUpperCase(), NOW, true],
    [
      "a token signed for the upper-case id",
      () => signPlaybackToken(ID.toUpperCase(), SECRET, NOW + 60),
      ID,
      NOW,
      true,
    ],
    ["a valid token, a malformed id", valid, "not-a-uuid", NOW, false],
    ["one second before expiry", valid, ID, NOW + 59, true],
    ["at expiry", valid, ID, NOW + 60, false],
    ["after expiry", valid, ID, NOW + 3600, false],
    ["another video's token", () => signPlaybackToken(OTHER, SECRET, NOW + 60), ID, NOW, false],
    ["another secret's token", () => signPlaybackToken(ID, "x".repeat(32), NOW + 60), ID, NOW, false],
    ["a tampered signature", async () => flip(await valid()), ID, NOW, false],
    ["a moved expiry", async () => (await valid()).replace(`${NOW + 60}.`, `${NOW + 9999}.`), ID, NOW, false],
    ["a truncated signature", async () => (await valid()).slice(0, -1), ID, NOW, false],
    ["no expiry", async () => (await valid()).split(".")[1] ?? "", ID, NOW, false],
    ["an empty string", async () => "", ID, NOW, false],
    ["garbage", async () => "1.!!!", ID, NOW, false],
    ["a negative expiry", async () => (await valid()).replace(`${NOW + 60}`, "-1"), ID, NOW, false],
  ])("%s → %s", async (_, make, id, now, ok) => {
    expect(await verifyPlaybackToken(await make(), id, SECRET, now)).toBe(ok);
  });
});
