import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createApiClient } from "@streamlet/shared/api-client";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { type apiClient, signedUpClient, waitForTerminal } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import { noise } from "../../../scripts/stack/noise.ts";
import { run } from "../../../scripts/stack/proc.ts";

const edge = inject("edgeUrl");
let dir: string;
let clip: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-e2e-"));
  clip = await makeClip(path.join(dir, "clip.mp4"), { seconds: 8, width: 1280, height: 720, fps: 30 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const newUser = () => signedUpClient(edge, "e2e");

/** Uploads a file through the public API exactly as a browser would and waits for the outcome. */
async function uploadAndWait(api: ReturnType<typeof apiClient>, file: string) {
  const created = await api.createVideo(path.basename(file), file);
  await api.upload(created, file);
  const accepted = await api.markUploaded(created.video.id);
  expect(accepted.video.status).toBe("queued");
  return waitForTerminal(api, created.video.id, { timeoutMs: 180_000 });
}

describe("upload → transcode → playback through the edge", () => {
  it("transcodes a 720p clip into a measured HLS ladder served from the edge", async () => {
    const api = await newUser();
    const video = await uploadAndWait(api, clip);
    expect(video.failureReason).toBeNull();
    expect(video.status).toBe("ready");
    expect(video.sourceWidth).toBe(1280);
    expect(video.sourceHeight).toBe(720);
    expect(video.durationSeconds).toBeGreaterThan(7.5);
    // Never upscale: a 720p source gives 720p and 480p.
    expect(video.renditions.map((r) => r.height).sort((a, b) => b - a)).toEqual([720, 480]);
    for (const r of video.renditions) {
      expect(r.codecs).toMatch(/^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
      expect(r.averageBandwidth).toBeLessThanOrEqual(r.bandwidth);
    }

    const hls = video.playback.hls ?? "";
    expect(hls).toBe(`${edge}/v1/play/${video.id}/master.m3u8`);
    const master = await fetch(hls, { headers: { origin: "https://player.example" } });
    expect(master.status).toBe(200);
    expect(master.headers.get("content-type")).toContain("application/vnd.apple.mpegurl");
    expect(master.headers.get("access-control-allow-origin")).toBe("*");
    const text = await master.text();
    expect(text).toContain("#EXT-X-INDEPENDENT-SEGMENTS");
    expect(text).toMatch(/#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="[^"]+".*URI="[^"]+"/);
    const infs = text.split("\n").filter((l) => l.startsWith("#EXT-X-STREAM-INF:"));
    expect(infs).toHaveLength(2);
    for (const inf of infs) {
      for (const attr of [
        "BANDWIDTH=",
        "AVERAGE-BANDWIDTH=",
        "CODECS=",
        "RESOLUTION=",
        "FRAME-RATE=",
        "AUDIO=",
      ]) {
        expect(inf).toContain(attr);
      }
    }

    // Variant playlist, init segment, a media segment with Range and HEAD.
    const top = video.renditions.find((r) => r.height === 720);
    const base = hls.replace(/master\.m3u8$/, `${top?.name}/`);
    const variant = await (await fetch(`${base}index.m3u8`)).text();
    expect(variant).toContain("#EXT-X-PLAYLIST-TYPE:VOD");
    expect(variant).toMatch(/#EXT-X-MAP:URI="[^"]+"/);
    const segment = variant.split("\n").find((l) => l && !l.startsWith("#")) ?? "";
    const full = await fetch(`${base}${segment}`);
    expect(full.status).toBe(200);
    expect(full.headers.get("cache-control")).toContain("immutable");
    const bytes = new Uint8Array(await full.arrayBuffer());
    expect(bytes.length).toBeGreaterThan(1000);

    const ranged = await fetch(`${base}${segment}`, { headers: { range: "bytes=100-199" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 100-199/${bytes.length}`);
    expect(new Uint8Array(await ranged.arrayBuffer())).toEqual(bytes.slice(100, 200));

    const head = await fetch(`${base}${segment}`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);

    const poster = await fetch(video.playback.poster ?? "");
    expect(poster.status).toBe(200);
    expect(poster.headers.get("content-type")).toBe("image/jpeg");

    // Every rendition decodes through the edge URL.
    for (const r of video.renditions) {
      const url = hls.replace(/master\.m3u8$/, `${r.name}/index.m3u8`);
      await run("ffmpeg", ["-v", "error", "-xerror", "-i", url, "-map", "0", "-f", "null", "-"]);
    }
    // And the master as a whole plays audio and video.
    const probe = JSON.parse(
      await run("ffprobe", ["-v", "error", "-print_format", "json", "-show_streams", hls]),
    ) as { streams: { codec_type: string }[] };
    expect(probe.streams.some((s) => s.codec_type === "audio")).toBe(true);

    // The ready video is listed publicly.
    const list = await createApiClient({ baseUrl: edge }).GET("/v1/videos", {
      params: { query: { limit: 100 } },
    });
    expect(list.response.status).toBe(200);
    expect(list.data?.videos.map((v) => v.id)).toContain(video.id);
  });

  it("fails a garbage file with a readable reason and keeps serving the next job", async () => {
    const api = await newUser();
    const garbage = path.join(dir, "garbage.mp4");
    writeFileSync(garbage, noise(256 * 1024));
    const failed = await uploadAndWait(api, garbage);
    expect(failed.status).toBe("failed");
    expect(failed.failureReason).toMatch(/not a video|could not be read|invalid/i);
    expect((await fetch(`${edge}/v1/play/${failed.id}/master.m3u8`)).status).toBe(404);

    const truncated = path.join(dir, "truncated.mp4");
    const whole = readFileSync(clip);
    writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 3)));
    const cut = await uploadAndWait(api, truncated);
    expect(cut.status).toBe("failed");
    expect(cut.failureReason?.length).toBeGreaterThan(10);

    const small = await makeClip(path.join(dir, "small.mp4"), {
      seconds: 3,
      width: 640,
      height: 360,
      audio: false,
    });
    const next = await uploadAndWait(api, small);
    expect(next.status).toBe("ready");
    // Below the lowest rung: the source height is the only rung; no audio group.
    expect(next.renditions.map((r) => r.height)).toEqual([360]);
    expect(next.renditions[0]?.codecs).toMatch(/^avc1\.[0-9a-f]{6}$/);
  });
});
