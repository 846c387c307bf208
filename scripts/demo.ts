/**
 * The main job in one command: start the stack, sign up, upload a file through the public API exactly as a
 * browser would (presigned PUT), watch the transcode live over the progress WebSocket, then decode every
 * rendition through the edge with ffmpeg. The last stdout line is one JSON summary; exit 0 only when every
 * rendition decoded.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import type { ProgressEvent, RungProgress } from "@streamlet/shared";
import { apiClient, waitForProgressEnd, waitForTerminal } from "./stack/client.ts";
import { makeClip } from "./stack/clip.ts";
import { run } from "./stack/proc.ts";
import { ROOT } from "./stack/services.ts";
import { type Stack, startStack } from "./stack/stack.ts";
import { Supervisor, stopOnSignals } from "./stack/supervisor.ts";

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

/** Seconds since `started`, right-aligned, for the log lines. */
const clock = (started: number) => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;

/** What a stage line says about the event that opened the stage. */
function describe(e: ProgressEvent): string {
  switch (e.type) {
    case "queued":
      return "queued";
    case "downloading":
      return "reading the source";
    case "probing":
      return "probing";
    case "transcoding":
      return `transcoding ${e.rungs.map((r) => r.name).join(" + ")}${e.chunksTotal ? ` in ${e.chunksTotal} chunks` : ""}`;
    case "playable":
      return `playable: ${e.segmentsPublished} of ${e.segmentsTotal} segments published`;
    case "uploading":
      return `uploading ${e.totalFiles} files`;
    case "ready":
      return `ready: ${e.renditions.map((r) => r.name).join(", ")}, ${e.durationSeconds} s of video`;
    case "failed":
      return `failed: ${e.reason}`;
  }
}

/**
 * Live progress on stderr: one line per stage, and (on a terminal) per-rung bars
 * redrawn in place; when stderr is not a terminal, a progress line per change, at most one a second.
 */
function progressView(out: NodeJS.WriteStream, started: number) {
  const tty = out.isTTY === true;
  let stage = "";
  let rungs: RungProgress[] = [];
  let encode: Extract<ProgressEvent, { type: "transcoding" }> | null = null;
  let drawn = 0;
  let lastPlainAt = 0;
  let lastPlain = "";

  const bar = (label: string, percent: number) => {
    const filled = Math.round(percent / 5);
    return `           ${label.padEnd(9)} [${"#".repeat(filled)}${"-".repeat(20 - filled)}] ${percent.toFixed(0).padStart(3)}%`;
  };
  const encodeFigures = () =>
    encode
      ? [
          `ladder ${encode.percent.toFixed(0)}%`,
          encode.chunksTotal ? `chunks ${encode.chunksDone ?? 0}/${encode.chunksTotal}` : null,
          encode.fps !== null ? `${encode.fps.toFixed(0)} fps` : null,
          encode.speed !== null ? `${encode.speed.toFixed(2)}x realtime` : null,
          encode.etaSeconds !== null ? `ETA ${encode.etaSeconds.toFixed(0)} s` : null,
        ]
          .filter(Boolean)
          .join(", ")
      : "";
  const block = () => [
    ...rungs.map((r) => bar(r.name, r.percent)),
    ...(encode ? [`           ${encodeFigures()}`] : []),
  ];
  const erase = () => {
    // Up to the first bar line, then clear everything below it.
    if (drawn > 0) out.write(`\x1b[${drawn}F\x1b[J`);
    drawn = 0;
  };
  const draw = () => {
    const lines = block();
    out.write(`${lines.join("\n")}\n`);
    drawn = lines.length;
  };
  const plainLine = () => {
    const parts: string[] = [];
    if (rungs.length > 0) parts.push(rungs.map((r) => `${r.name} ${r.percent.toFixed(0)}%`).join(" "));
    return [...parts, encodeFigures()].filter(Boolean).join(" | ");
  };

  return {
    update(e: ProgressEvent) {
      if (e.type === "transcoding") {
        encode = e;
        rungs = e.rungs;
      }
      const terminal = e.type === "ready" || e.type === "failed";
      const newStage = e.type !== stage;
      stage = e.type;
      if (tty) {
        erase();
        if (newStage) out.write(`${clock(started)}  ${describe(e)}\n`);
        if (e.type !== "queued" && !terminal) draw();
        return;
      }
      if (newStage) out.write(`${clock(started)}  ${describe(e)}\n`);
      if (terminal || e.type === "queued") return;
      const line = plainLine();
      if (line !== lastPlain && (newStage || Date.now() - lastPlainAt >= 1000)) {
        out.write(`${clock(started)}    ${line}\n`);
        lastPlain = line;
        lastPlainAt = Date.now();
      }
    },
    /** A line that must not be lost under the bars (a reconnect, say). */
    note(text: string) {
      if (tty) erase();
      out.write(`${clock(started)}  ${text}\n`);
      if (tty && stage !== "" && stage !== "queued" && stage !== "ready" && stage !== "failed") draw();
    },
  };
}

let stack: Stack | undefined;
const logs: string[] = [];
let exitCode = 1;
let keeping = false;
// Ctrl-C at any moment (starting, transcoding, or in --keep mode) stops every child before exiting:
// 130 when it cut the demo short, the demo's own status in --keep mode.
const supervisor = new Supervisor();
stopOnSignals(supervisor, { say, exitCode: () => (keeping ? exitCode : 130) });
try {
  say("starting the stack (redis, postgres, s3rver, wrangler dev, transcoder)…");
  stack = await startStack({
    dataDir,
    ports: "random",
    transcoders: 1,
    env: process.env,
    supervisor,
    log: (name) => (line) => {
      logs.push(`[${name}] ${line}`);
      if (logs.length > 200) logs.shift();
    },
  });
  say(`web app: ${stack.edgeUrl}/ (while the demo runs; \`npm run demo -- --keep\` keeps it running)`);
  const api = apiClient(stack.edgeUrl);
  await api.signup(
    `demo-${randomBytes(4).toString("hex")}@example.com`,
    randomBytes(12).toString("base64url"),
  );
  const created = await api.createVideo(path.basename(file), file, "uploaded by npm run demo");
  const id = created.video.id;
  say(`video ${id}: uploading ${path.basename(file)} to storage…`);
  const started = Date.now();
  const view = progressView(process.stderr, started);
  let playableSeconds: number | null = null;
  // Subscribed before the upload is confirmed, as a browser page would be: every stage arrives live.
  const outcome = waitForProgressEnd(stack.edgeUrl, id, api.accessToken(), {
    onEvent: (e) => {
      if (e.type === "playable" && playableSeconds === null) {
        playableSeconds = Math.round((Date.now() - started) / 100) / 10;
      }
      view.update(e);
    },
    onError: (e) => {
      if (supervisor.stopping) return; // after a Ctrl-C the edge going away is expected, not news
      view.note(
        e.kind === "server"
          ? `progress socket: ${e.code}: ${e.message}`
          : e.kind === "deleted"
            ? `progress socket: ${e.message}`
            : `progress socket: ${e.message}${e.willRetry ? " (reconnecting)" : ""}`,
      );
    },
  });
  await api.upload(created, file);
  await api.markUploaded(id);
  await outcome;
  // The edge writes the outcome to Postgres before it sends it, so the row is already final.
  const video = await waitForTerminal(api, id, { timeoutMs: 30_000 });
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
    say(
      `playable after ${playableSeconds ?? "?"} s, ready after ${seconds} s (from the start of the upload)`,
    );
    console.log(
      JSON.stringify({ videoId: id, status: video.status, hls, renditions, playableSeconds, seconds }),
    );
    exitCode = allDecoded && renditions.length > 0 ? 0 : 1;
    if (keep) {
      say(`\nwatch it: ${stack.edgeUrl}/watch/${id}  (the web app: ${stack.edgeUrl}/)`);
      say(`play it:  ${hls}  (the stack keeps running; Ctrl-C stops it)`);
      keeping = true;
      await new Promise<never>(() => {}); // the signal handler stops everything and exits
    }
  }
} catch (err) {
  if (supervisor.stopping) await new Promise<never>(() => {}); // interrupted: the handler exits
  say(`demo failed: ${(err as Error).message}`);
  say(logs.slice(-40).join("\n"));
} finally {
  await stack?.stop();
}
process.exit(exitCode);
