/**
 * The benchmark's one video: a synthetic 720p clip uploaded through the public API and transcoded by a
 * transcoder of the stack until ready. When no transcoder can start (BENCH_PUBLISH=seed, or the working
 * tree's transcoder does not run), the uploaded video is published the way the integration tests build
 * theirs, as a row plus stored objects: ffmpeg cuts the clip into a real fMP4 HLS rung, its files are put
 * in storage and the row is marked ready. Delivery reads nothing else, so what is measured is the same.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { INIT_SEGMENT, outputPrefix, SEGMENT_PATTERN, VARIANT_PLAYLIST } from "@streamlet/shared";
import { AwsClient } from "aws4fetch";
import pg from "pg";
import { signedUpClient, waitForTerminal } from "../../scripts/stack/client.ts";
import { makeClip } from "../../scripts/stack/clip.ts";
import { run } from "../../scripts/stack/proc.ts";
import type { Stack } from "../../scripts/stack/stack.ts";

export interface Published {
  id: string;
  /** The rung whose playlist and segments the benchmark requests. */
  rung: string;
  how: "transcoded" | "seeded";
}

const SEED_RUNG = "720p";

/** Uploads a clip and waits for ready; seeds the outputs when no transcoder runs. */
export async function publishVideo(stack: Stack, dir: string, say: (m: string) => void): Promise<Published> {
  const api = await signedUpClient(stack.edgeUrl, "bench-delivery");
  const clip = await makeClip(path.join(dir, "clip.mp4"), { seconds: 12, width: 1280, height: 720 });
  const created = await api.createVideo("bench-delivery", clip);
  await api.upload(created, clip);
  const id = created.video.id;

  if (process.env.BENCH_PUBLISH !== "seed") {
    const transcoder = await stack.addTranscoder().catch((error: unknown) => {
      say(`no transcoder (${(error as Error).message}): seeding the outputs instead`);
      return null;
    });
    if (transcoder) {
      try {
        await api.markUploaded(id);
        const video = await waitForTerminal(api, id, { timeoutMs: 240_000 });
        if (video.status !== "ready") throw new Error(`video ${video.status}: ${video.failureReason}`);
        const top = [...video.renditions].sort((a, b) => b.height - a.height)[0];
        if (!top) throw new Error("the video has no renditions");
        return { id, rung: top.name, how: "transcoded" };
      } finally {
        await transcoder.stop(); // its CPU stays out of the measurements
      }
    }
  }
  await seed(stack, id, clip, path.join(dir, "hls"));
  return { id, rung: SEED_RUNG, how: "seeded" };
}

/** One fMP4 HLS rung (~3 Mbit/s, 4 s segments) cut from the clip, stored, and the row marked ready. */
async function seed(stack: Stack, id: string, clip: string, out: string) {
  const rungDir = path.join(out, SEED_RUNG);
  await run("mkdir", ["-p", rungDir]);
  // biome-ignore format: ffmpeg arguments read best in flag/value pairs
  await run("ffmpeg", [
    "-v", "error", "-y", "-i", clip,
    "-c:v", "libx264", "-preset", "veryfast", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "6M",
    "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-c:a", "aac", "-b:a", "128k",
    "-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
    "-hls_fmp4_init_filename", INIT_SEGMENT,
    "-hls_segment_filename", path.join(rungDir, SEGMENT_PATTERN),
    path.join(rungDir, VARIANT_PLAYLIST),
  ]);
  const vars = stack.edgeVars;
  const s3 = new AwsClient({
    accessKeyId: vars.S3_ACCESS_KEY_ID ?? "",
    secretAccessKey: vars.S3_SECRET_ACCESS_KEY ?? "",
    region: vars.S3_REGION ?? "us-east-1",
    service: "s3",
  });
  const master = `#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=3300000,RESOLUTION=1280x720\n${SEED_RUNG}/${VARIANT_PLAYLIST}\n`;
  const files: [string, Uint8Array | string][] = [["master.m3u8", master]];
  for (const name of readdirSync(rungDir)) {
    files.push([`${SEED_RUNG}/${name}`, new Uint8Array(readFileSync(path.join(rungDir, name)))]);
  }
  for (const [name, body] of files) {
    const url = `${vars.S3_ENDPOINT}/${vars.S3_BUCKET}/${outputPrefix(id)}${name}`;
    const res = await s3.fetch(url, { method: "PUT", body: body as BodyInit });
    if (!res.ok) throw new Error(`storing ${name}: ${res.status}`);
  }
  const db = new pg.Client({ connectionString: vars.DATABASE_URL });
  await db.connect();
  try {
    await db.query("update videos set status = 'ready', ready_at = now() where id = $1", [id]);
  } finally {
    await db.end();
  }
}
