import { env } from "cloudflare:workers";
import { BEARER_PROTOCOL_PREFIX, EVENTS_PROTOCOL } from "@streamlet/shared";
import { describe, expect, it } from "vitest";
import { signAccessToken, signProgressToken } from "../../src/auth/tokens.ts";
import { edgeFetch, newUser, newVideo } from "./helpers.ts";

type Refusal = { status: number; code: string; body: string };

async function refusal(res: Response): Promise<Refusal> {
  expect(res.webSocket).toBeNull();
  const body = await res.text();
  const parsed = JSON.parse(body) as { error: { code: string } };
  return { status: res.status, code: parsed.error.code, body };
}

const subscribe = (videoId: string, headers: Record<string, string>) =>
  edgeFetch(`/v1/videos/${videoId}/events`, { headers: { Upgrade: "websocket", ...headers } }).then(refusal);

const publish = (videoId: string, headers: Record<string, string>) =>
  edgeFetch(`/v1/internal/videos/${videoId}/progress`, {
    headers: { Upgrade: "websocket", ...headers },
  }).then(refusal);

const offer = (token: string) => ({
  "Sec-WebSocket-Protocol": `${EVENTS_PROTOCOL}, ${BEARER_PROTOCOL_PREFIX}${token}`,
});

describe("who may open a progress socket", () => {
  it("refuses a subscriber without a valid access token with 401, and never echoes the token", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    expect(await subscribe(video.id, {})).toMatchObject({ status: 401, code: "unauthorized" });
    const expired = await signAccessToken(owner.id, env.JWT_SECRET, Math.floor(Date.now() / 1000) - 3600);
    const progress = await signProgressToken(video.id, env.JWT_SECRET);
    for (const token of ["garbage", expired, progress]) {
      const answer = await subscribe(video.id, offer(token));
      expect(answer).toMatchObject({ status: 401, code: "unauthorized" });
      expect(answer.body).not.toContain(token);
    }
  });

  it("answers 404 alike for another user's video, a missing one and a malformed id", async () => {
    const owner = await newUser();
    const stranger = await newUser();
    const video = await newVideo(owner.id);
    for (const id of [video.id, crypto.randomUUID(), "not-a-uuid"]) {
      expect(await subscribe(id, offer(stranger.token))).toMatchObject({ status: 404, code: "not_found" });
    }
    expect(await subscribe(video.id, { Authorization: `Bearer ${stranger.token}` })).toMatchObject({
      status: 404,
      code: "not_found",
    });
  });

  it("answers 426 to a request that is not a WebSocket upgrade", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const res = await edgeFetch(`/v1/videos/${video.id}/events`, {
      headers: { Authorization: `Bearer ${owner.token}` },
    });
    expect(await refusal(res)).toMatchObject({ status: 426, code: "upgrade_required" });
    const internal = await edgeFetch(`/v1/internal/videos/${video.id}/progress`, {
      headers: {
        Authorization: `Bearer ${env.TRANSCODER_SECRET}`,
        "X-Progress-Token": await signProgressToken(video.id, env.JWT_SECRET),
      },
    });
    expect(await refusal(internal)).toMatchObject({ status: 426, code: "upgrade_required" });
  });

  it("refuses a user's token on the publisher route, in either header", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const progress = await signProgressToken(video.id, env.JWT_SECRET);
    expect(
      await publish(video.id, { Authorization: `Bearer ${owner.token}`, "X-Progress-Token": progress }),
    ).toMatchObject({ status: 401, code: "unauthorized" });
    const secret = { Authorization: `Bearer ${env.TRANSCODER_SECRET}` };
    expect(await publish(video.id, { ...secret, "X-Progress-Token": owner.token })).toMatchObject({
      status: 401,
      code: "unauthorized",
    });
  });

  it("refuses a missing, forged or expired progress token with 401 and another video's with 403", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id);
    const other = await newVideo(owner.id);
    const secret = { Authorization: `Bearer ${env.TRANSCODER_SECRET}` };
    const forged = await signProgressToken(video.id, "forged-".repeat(6));
    const expired = await signProgressToken(
      video.id,
      env.JWT_SECRET,
      Math.floor(Date.now() / 1000) - 8 * 86_400,
    );
    expect(await publish(video.id, secret)).toMatchObject({ status: 401, code: "unauthorized" });
    for (const token of [forged, expired]) {
      expect(await publish(video.id, { ...secret, "X-Progress-Token": token })).toMatchObject({
        status: 401,
        code: "unauthorized",
      });
    }
    const elsewhere = await signProgressToken(other.id, env.JWT_SECRET);
    expect(await publish(video.id, { ...secret, "X-Progress-Token": elsewhere })).toMatchObject({
      status: 403,
      code: "forbidden",
    });
  });
});
