import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPTED_FORMATS, refusedFormat, sourceInputArgs, sourceProtocols } from "../src/media/confine.ts";
import { BadMediaError } from "../src/media/errors.ts";
import { buildLadderArgs } from "../src/media/ffmpeg-args.ts";
import { buildPosterArgs } from "../src/media/poster.ts";
import { BAD_MEDIA, classifyProbeFailure, probeFile, probeHeader } from "../src/media/probe.ts";
import { execTool, FfmpegError, runFfmpeg } from "../src/media/run-ffmpeg.ts";

const run = promisify(execFile);

/**
 * Uploads that are really instructions to ffmpeg: a playlist, a script or a manifest naming another
 * file. Each names a FIFO nobody writes to, so an ffmpeg that opened it would block there (checked by
 * hand: without the allow-lists ffprobe hangs on these for as long as it is let); ending within seconds,
 * refused, shows it never did.
 */
describe("an upload cannot make ffmpeg open anything else", () => {
  let dir: string;
  let jobDir: string;
  let fifo: string;
  const tools = { ffprobePath: "ffprobe", ffmpegPath: "ffmpeg", timeoutMs: 20_000 };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamlet-hostile-"));
    jobDir = join(dir, "job");
    await mkdir(jobDir);
    // ".ts": an extension the hls demuxer's own allowed_extensions list lets through.
    fifo = join(dir, "target.ts");
    await run("mkfifo", [fifo]);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  let uploads = 0;
  /** Writes `text` as the job's source and probes it, timing the refusal. */
  const probeUpload = async (name: string, text: string) => {
    const source = join(jobDir, name);
    await writeFile(source, text);
    const started = Date.now();
    const err = await probeFile(source, tools).catch((e: unknown) => e);
    return { err, ms: Date.now() - started };
  };

  it.each([
    ["an HLS playlist naming a FIFO by absolute path", () => playlist(fifo), "hls"],
    ["an HLS playlist naming a FIFO by a ../ path", () => playlist("../target.ts"), "hls"],
    ["an ffconcat script naming a FIFO", () => "ffconcat version 1.0\nfile '../target.ts'\n", "concat"],
  ])("%s: refused, its target never opened", async (_label, text, format) => {
    uploads += 1;
    const { err, ms } = await probeUpload(`source-${uploads}`, text());
    expect(err).toBeInstanceOf(BadMediaError);
    expect((err as Error).message).toBe(
      `The uploaded file's container format (${format}) is not accepted: upload an MP4, MOV, MKV, WebM, AVI, MPEG-TS, MPEG-PS, FLV, Ogg or WMV/ASF file`,
    );
    expect(ms).toBeLessThan(5000);
  });

  it("a DASH manifest naming a FIFO is refused as unreadable", async () => {
    const mpd = `<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" mediaPresentationDuration="PT10S" minBufferTime="PT1S">
  <Period><AdaptationSet mimeType="video/mp2t"><Representation id="1" bandwidth="1000">
    <BaseURL>file://${fifo}</BaseURL>
  </Representation></AdaptationSet></Period>
</MPD>
`;
    const { err, ms } = await probeUpload("source-dash", mpd);
    expect(err).toBeInstanceOf(BadMediaError);
    expect(ms).toBeLessThan(5000);
  });

  it("an image sequence pattern is refused (image2 is not an accepted format)", async () => {
    const frames = join(dir, "frames");
    await mkdir(frames);
    for (const n of [1, 2, 3]) {
      await run("ffmpeg", [
        ...["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "color=s=64x64"],
        ...["-frames:v", "1", join(frames, `img-${n}.png`)],
      ]);
    }
    // The pattern is not a file, so this runs ffprobe as probeFile does rather than through it.
    const pattern = join(frames, "img-%d.png");
    const probed = await execTool("ffprobe", ["-v", "error", ...sourceInputArgs(), "-show_format", pattern]);
    expect(probed.code).not.toBe(0);
    expect(refusedFormat(probed.stderr)).toBe("image2");
    expect(classifyProbeFailure(probed.stderr)).toEqual(new BadMediaError(BAD_MEDIA.stillImage));
  });

  it("the poster run refuses the playlist the same way, without opening the FIFO", async () => {
    const source = join(jobDir, "poster-source");
    await writeFile(source, playlist(fifo));
    const started = Date.now();
    const args = buildPosterArgs(source, join(dir, "poster.jpg"), { width: 640, height: 360 }, 0);
    const err = await runFfmpeg(args, { stallTimeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfmpegError);
    expect((err as FfmpegError).stderrTail.join("\n")).toMatch(
      /\[hls @ 0x[0-9a-f]+\] Format not on whitelist/,
    );
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("every builder of a run over the upload puts the allow-lists before -i", () => {
    const ladder = buildLadderArgs({
      input: "/job/source",
      outDir: "/job/out",
      facts: { hasAudio: false },
      rungs: [{ name: "360p", width: 640, height: 360, videoBitrate: 1, maxBitrate: 1, bufsize: 1 }],
      fps: { num: 30, den: 1 },
      encoder: { kind: "x264", preset: "veryfast" },
      maxPixels: 67_108_864,
    });
    const poster = buildPosterArgs("/job/source", "/job/poster.jpg", { width: 640, height: 360 }, 1, 100);
    for (const args of [ladder, poster]) {
      const input = args.indexOf("-i");
      const before = args.slice(0, input);
      expect(before[before.indexOf("-protocol_whitelist") + 1]).toBe("file");
      expect(before[before.indexOf("-format_whitelist") + 1]).toBe(ACCEPTED_FORMATS.join(","));
      expect(before).toContain("-max_pixels");
    }
    expect(sourceInputArgs()).not.toContain("-max_pixels");
    for (const refused of ["hls", "dash", "concat", "image2", "tty", "lavfi", "png_pipe", "http", "data"]) {
      expect(ACCEPTED_FORMATS).not.toContain(refused);
    }
  });
});

/**
 * The same over HTTP: the coordinator reads the header over a presigned URL (probeHeader), so the
 * network protocols are allowed for that run. An upload that names another URL must still never make
 * ffmpeg fetch it: a local server serves the upload and records every path asked for.
 */
describe("read over its URL, an upload still cannot make ffmpeg open anything else", () => {
  let server: http.Server;
  let origin = "";
  const asked: string[] = [];
  const bodies = new Map<string, string>();

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      asked.push(req.url ?? "");
      const body = bodies.get((req.url ?? "").split("?")[0] as string);
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it.each([
    ["an HLS playlist naming another URL", () => playlist(`${origin}/target.ts`), "hls"],
    [
      "an ffconcat script naming another URL",
      () => `ffconcat version 1.0\nfile '${origin}/target.ts'\n`,
      "concat",
    ],
  ])("%s: refused, the named URL never fetched", async (label, text, format) => {
    const path = `/source-${format}?X-Amz-Signature=abc`;
    bodies.set(path.split("?")[0] as string, text());
    const err = await probeHeader(`${origin}${path}`, {
      ffprobePath: "ffprobe",
      ffmpegPath: "ffmpeg",
      timeoutMs: 20_000,
    }).catch((e: unknown) => e);
    expect(err, label).toBeInstanceOf(BadMediaError);
    expect((err as Error).message).toMatch(`container format (${format}) is not accepted`);
    expect(asked.filter((p) => p.startsWith("/source-"))).not.toEqual([]);
    expect(asked.filter((p) => p.includes("target"))).toEqual([]);
  });

  it("allows exactly the source's own protocols, checks HTTPS certificates, and no other scheme", () => {
    expect(sourceProtocols("/work/sources/abc")).toEqual(["file"]);
    expect(sourceProtocols("source")).toEqual(["file"]);
    expect(sourceProtocols("http://127.0.0.1:9000/b/k?X-Amz-Signature=1")).toEqual(["http", "tcp"]);
    expect(sourceProtocols("https://s3.example.com/b/k")).toEqual(["https", "tls", "tcp"]);
    for (const other of [
      "file:/etc/passwd",
      "concat:/a|/b",
      "data:,x",
      "subfile:,start,0,end,1,,:/x",
      "rtmp://h/x",
    ]) {
      expect(() => sourceProtocols(other)).toThrow(/a local file or an http\(s\) URL/);
    }
    const https = sourceInputArgs(1000, "https://s3.example.com/b/k");
    expect(https[https.indexOf("-protocol_whitelist") + 1]).toBe("https,tls,tcp");
    expect(https[https.indexOf("-tls_verify") + 1]).toBe("1");
    expect(https).toContain("-reconnect");
    const plain = sourceInputArgs(undefined, "http://127.0.0.1:9000/b/k");
    expect(plain[plain.indexOf("-protocol_whitelist") + 1]).toBe("http,tcp");
    expect(plain).not.toContain("-tls_verify");
    expect(sourceInputArgs(1000, "/job/source")).not.toContain("-reconnect");
  });
});

function playlist(segment: string): string {
  return `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n${segment}\n#EXT-X-ENDLIST\n`;
}
