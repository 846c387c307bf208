import { ErrorEnvelope } from "@streamlet/shared";
import { describe, expect, it } from "vitest";
import { edgeFetch, newUser, newVideo } from "./helpers.ts";

/**
 * The captions quota (RATE_LIMIT_CAPTIONS, 3/1h in the workers project's env): every upload, replacement
 * or delete stores or removes a file, starts a cache generation and purges, so each user has a budget of
 * them, whatever addresses they come from. Inside workerd, against the RateLimiter object and the local S3
 * server (workers-global-setup.ts).
 */

const VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHello\n";

function putCaptions(token: string, videoId: string, language: string, body = VTT, ip = "203.0.113.9") {
  return edgeFetch(`/v1/videos/${videoId}/captions/${language}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "text/vtt", "cf-connecting-ip": ip },
    body,
  });
}

describe("the captions quota", () => {
  it("refuses a user's changes past RATE_LIMIT_CAPTIONS with 429 rate_limited; bad files and other users are not counted", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id, { status: "ready" });

    // A file that is not WebVTT or SRT costs nothing.
    const bad = await putCaptions(owner.token, video.id, "en", "not captions at all");
    expect(bad.status).toBe(400);
    expect(ErrorEnvelope.parse(await bad.json()).error.code).toBe("invalid_captions");

    // Three changes from three addresses: the quota is the user's, not an address's.
    expect((await putCaptions(owner.token, video.id, "en", VTT, "203.0.113.1")).status).toBe(201);
    expect((await putCaptions(owner.token, video.id, "en", VTT, "203.0.113.2")).status).toBe(200);
    expect((await putCaptions(owner.token, video.id, "de", VTT, "203.0.113.3")).status).toBe(201);

    const refused = await putCaptions(owner.token, video.id, "fr", VTT, "203.0.113.4");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    const body = ErrorEnvelope.parse(await refused.json());
    expect(body.error.code).toBe("rate_limited");
    expect(body.error.message).toMatch(/^you have changed captions too often; try again in \d+ seconds$/);
    // A delete is a change too; nothing was stored for the refused upload.
    const del = await edgeFetch(`/v1/videos/${video.id}/captions/en`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(del.status).toBe(429);
    const list = await edgeFetch(`/v1/videos/${video.id}/captions`, {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    const tracks = ((await list.json()) as { captions: { language: string }[] }).captions;
    expect(tracks.map((t) => t.language)).toEqual(["de", "en"]);

    // Another user's budget is their own.
    const other = await newUser();
    const theirs = await newVideo(other.id, { status: "ready" });
    expect((await putCaptions(other.token, theirs.id, "en")).status).toBe(201);
  });
});
