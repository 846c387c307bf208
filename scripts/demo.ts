/**
 * The main job in one command: start the stack, sign up, upload a file through the public API exactly as a
 * browser would (presigned PUT), wait for the transcode, then decode every rendition through the edge with
 * ffmpeg. The last stdout line is one JSON summary; exit 0 only when every rendition decoded.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { apiClient, uploadFile, waitForTerminal } from "./stack/client.ts";
import { makeClip } from "./stack/clip.ts";
import { run } from "./stack/proc.ts";
import { ROOT } from "./stack/services.ts";
import { type Stack, startStack } from "./stack/stack.ts";

const say = (msg: string) => process.stderr.write(`${msg}\n`);
const dataDir = path.join(ROOT, ".data", "demo");
mkdirSync(dataDir, { recursive: true });

const args = process.argv.slice(2);
const keep = args.includes("--keep");
const arg = args.find((a) => a !== "--keep");
let file: string;
if (arg) {
  file = path.resolve(process.env.INIT_CWD ?? process.cwd(), arg);
  if (!existsSync(file)) {
    say(`no such file: ${file}`);
    process.exit(2);
  }
} else {
  file = path.join(dataDir, "clip-20s-1080p30.mp4");
  if (!existsSync(file)) {
    say("generating a 20 s 1080p30 clip with audio…");
    await makeClip(file, { seconds: 20, width: 1920, height: 1080, fps: 30 });
  }
}

/** Decodes a playlist URL end to end with ffmpeg, stopping at the first error. */
function decodes(url: string) {
  return run("ffmpeg", ["-v", "error", "-xerror", "-i", url, "-map", "0", "-f", "null", "-"]).then(
    () => true,
    (err: Error) => {
      say(err.message);
      return false;
    },
  );
}

let stack: Stack | undefined;
const logs: string[] = [];
let exitCode = 1;
try {
  say("starting the stack (redis, postgres, s3rver, wrangler dev, transcoder)…");
  stack = await startStack({
    dataDir,
    ports: "random",
    transcoders: 1,
    env: process.env,
    log: (name) => (line) => {
      logs.push(`[${name}] ${line}`);
      if (logs.length > 200) logs.shift();
    },
  });
  const api = apiClient(stack.edgeUrl);
  await api.signup(
    `demo-${randomBytes(4).toString("hex")}@example.com`,
    randomBytes(12).toString("base64url"),
  );
  const created = await api.createVideo(path.basename(file), "uploaded by npm run demo");
  const id = created.video.id;
  say(`video ${id}: uploading ${path.basename(file)} to storage…`);
  const started = Date.now();
  await uploadFile(created.upload, file);
  await api.markUploaded(id);
  const video = await waitForTerminal(api, id, {
    onStatus: (v) => say(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s  ${v.status}`),
  });
  const seconds = Math.round((Date.now() - started) / 100) / 10;
  if (video.status !== "ready" || !video.playback.hls) {
    say(`transcode failed: ${video.failureReason}`);
    console.log(JSON.stringify({ videoId: id, status: video.status, reason: video.failureReason, seconds }));
  } else {
    const hls = video.playback.hls;
    let allDecoded = true;
    const renditions = [];
    for (const r of video.renditions) {
      const url = hls.replace(/master\.m3u8$/, `${r.name}/index.m3u8`);
      const ok = await decodes(url);
      say(
        `  ${r.name.padEnd(6)} ${r.width}x${r.height} ${Math.round(r.bandwidth / 1000)} kb/s  ${ok ? "decoded" : "FAILED to decode"}`,
      );
      allDecoded &&= ok;
      renditions.push({ height: r.height, bandwidth: r.bandwidth, decoded: ok });
    }
    // The audio group, when the master has one, is its own rendition: decode it too.
    const master = await (await fetch(hls)).text();
    const audioUri = /#EXT-X-MEDIA:TYPE=AUDIO,.*URI="([^"]+)"/.exec(master)?.[1];
    if (audioUri) {
      const url = new URL(audioUri, hls).toString();
      const ok = await decodes(url);
      say(`  audio  AAC stereo  ${ok ? "decoded" : "FAILED to decode"}`);
      allDecoded &&= ok;
    }
    console.log(JSON.stringify({ videoId: id, status: video.status, hls, renditions, seconds }));
    exitCode = allDecoded && renditions.length > 0 ? 0 : 1;
    if (keep) {
      say(`\nplay it: ${hls}  (the stack keeps running; Ctrl-C stops it)`);
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
    }
  }
} catch (err) {
  say(`demo failed: ${(err as Error).message}`);
  say(logs.slice(-40).join("\n"));
} finally {
  await stack?.stop();
}
process.exit(exitCode);
