import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noise } from "../../scripts/stack/noise.ts";
import { BadMediaError } from "../src/media/errors.ts";
import { BAD_MEDIA, classifyProbeFailure, parseProbe, probeFile } from "../src/media/probe.ts";

/** Trimmed ffprobe 5.1 output (-show_streams -show_format) for a 1080p30 phone clip. */
const landscape = {
  streams: [
    {
      index: 0,
      codec_name: "h264",
      profile: "High",
      codec_type: "video",
      pix_fmt: "yuv420p",
      width: 1920,
      height: 1080,
      sample_aspect_ratio: "1:1",
      r_frame_rate: "30000/1001",
      avg_frame_rate: "30000/1001",
      duration: "12.012000",
      disposition: { default: 1, attached_pic: 0 },
    },
    {
      index: 1,
      codec_name: "aac",
      codec_type: "audio",
      sample_rate: "48000",
      channels: 2,
      r_frame_rate: "0/0",
      avg_frame_rate: "0/0",
      duration: "12.010667",
      disposition: { default: 1, attached_pic: 0 },
    },
  ],
  format: { format_name: "mov,mp4,m4a,3gp,3g2,mj2", duration: "12.012000", size: "9123456" },
};

const video = (overrides: Record<string, unknown>) => ({
  streams: [{ ...landscape.streams[0], ...overrides }],
  format: landscape.format,
});

describe("parseProbe", () => {
  it("reads size, rate, duration, audio, codec and pixel format", () => {
    expect(parseProbe(landscape)).toEqual({
      width: 1920,
      height: 1080,
      rotation: 0,
      frameRate: { num: 30000, den: 1001 },
      fps: 30000 / 1001,
      variableFrameRate: false,
      durationSeconds: 12.012,
      videoDurationSeconds: 12.012,
      hasAudio: true,
      videoCodec: "h264",
      pixelFormat: "yuv420p",
      formatName: "mov,mp4,m4a,3gp,3g2,mj2",
    });
  });

  it.each([
    ["display matrix -90 (iPhone portrait)", { side_data_list: [{ rotation: -90 }] }, 1080, 1920, 90],
    ["display matrix 90", { side_data_list: [{ rotation: 90 }] }, 1080, 1920, 270],
    ["display matrix 180 keeps landscape", { side_data_list: [{ rotation: 180 }] }, 1920, 1080, 180],
    ["legacy rotate tag", { tags: { rotate: "90" } }, 1080, 1920, 90],
    [
      "anamorphic 1440x1080 with SAR 4:3 displays 1920 wide",
      { width: 1440, sample_aspect_ratio: "4:3" },
      1920,
      1080,
      0,
    ],
  ])("%s", (_label, overrides, width, height, rotation) => {
    const facts = parseProbe(video(overrides));
    expect([facts.width, facts.height, facts.rotation]).toEqual([width, height, rotation]);
  });

  it.each([
    ["avg_frame_rate wins when it matches r_frame_rate", "30/1", "30/1", { num: 30, den: 1 }, false],
    [
      "mp4 rounding (1798200/60001) snaps to 29.97",
      "30000/1001",
      "1798200/60001",
      { num: 30000, den: 1001 },
      false,
    ],
    ["avg 0/0 falls back to r_frame_rate", "25/1", "0/0", { num: 25, den: 1 }, false],
    ["screen recording: r 60, avg 12 is variable", "60/1", "12/1", { num: 12, den: 1 }, true],
    ["no usable rate at all counts as variable", "0/0", "0/0", { num: 30, den: 1 }, true],
  ])("%s", (_label, r, avg, frameRate, vfr) => {
    const facts = parseProbe(video({ r_frame_rate: r, avg_frame_rate: avg }));
    expect(facts.frameRate).toEqual(frameRate);
    expect(facts.variableFrameRate).toBe(vfr);
  });

  it("falls back to the stream duration, and to null when there is none", () => {
    expect(
      parseProbe({ streams: landscape.streams, format: { format_name: "matroska,webm" } }).durationSeconds,
    ).toBe(12.012);
    const noDuration = { ...landscape.streams[0], duration: undefined };
    expect(
      parseProbe({ streams: [noDuration], format: { format_name: "matroska,webm" } }).durationSeconds,
    ).toBeNull();
  });

  it("notices a file without audio", () => {
    expect(parseProbe(video({})).hasAudio).toBe(false);
  });

  it.each([
    ["no streams at all", { streams: [], format: { format_name: "mp3" } }, BAD_MEDIA.noVideo],
    ["audio only", { streams: [landscape.streams[1]], format: landscape.format }, BAD_MEDIA.noVideo],
    [
      "audio with cover art (attached_pic is not video)",
      {
        streams: [
          landscape.streams[1],
          {
            codec_type: "video",
            codec_name: "mjpeg",
            width: 300,
            height: 300,
            disposition: { attached_pic: 1 },
          },
        ],
        format: { format_name: "mov,mp4,m4a,3gp,3g2,mj2", duration: "2.0" },
      },
      BAD_MEDIA.noVideo,
    ],
    [
      "random bytes read as binary text art",
      {
        streams: [
          { codec_type: "video", codec_name: "bintext", width: 1280, height: 10000, r_frame_rate: "25/1" },
        ],
        format: { format_name: "bin" },
      },
      BAD_MEDIA.unreadable,
    ],
    [
      "a JPEG",
      {
        streams: [
          { codec_type: "video", codec_name: "mjpeg", width: 320, height: 240, r_frame_rate: "25/1" },
        ],
        format: { format_name: "jpeg_pipe" },
      },
      BAD_MEDIA.stillImage,
    ],
    ["video stream without a size", video({ width: 0, height: 0 }), BAD_MEDIA.noSize],
    ["not ffprobe JSON", "nonsense", BAD_MEDIA.unreadable],
  ])("rejects %s", (_label, json, reason) => {
    expect(() => parseProbe(json)).toThrow(new BadMediaError(reason));
  });
});

describe("classifyProbeFailure", () => {
  it.each([
    [
      "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x5] moov atom not found\nsource: Invalid data found when processing input",
      BAD_MEDIA.truncated,
    ],
    ["source: Invalid data found when processing input", BAD_MEDIA.unreadable],
  ])("%s", (stderr, reason) => {
    expect(classifyProbeFailure(stderr)?.message).toBe(reason);
  });

  it("leaves unrelated failures alone (they are retried, not blamed on the upload)", () => {
    expect(classifyProbeFailure("source: Cannot allocate memory")).toBeNull();
  });
});

describe("probeFile on real files", () => {
  let dir: string;
  const tools = { ffprobePath: "ffprobe", ffmpegPath: "ffmpeg" };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamlet-probe-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a zero-byte file is empty", async () => {
    const file = join(dir, "empty");
    await writeFile(file, "");
    await expect(probeFile(file, tools)).rejects.toThrow(new BadMediaError(BAD_MEDIA.empty));
  });

  it("random bytes are not a video FFmpeg can read", async () => {
    const file = join(dir, "random");
    await writeFile(file, noise(256 * 1024));
    await expect(probeFile(file, tools)).rejects.toThrow(new BadMediaError(BAD_MEDIA.unreadable));
  });

  it("an MP4 cut before its moov box is truncated", async () => {
    // ftyp + the start of an mdat, no moov: what an interrupted upload of a non-faststart MP4 looks like.
    const ftyp = Buffer.from("0000001c667479706973736f6d0000020069736f6d69736f326d703431", "hex");
    const mdat = Buffer.concat([Buffer.from("00100000", "hex"), Buffer.from("mdat"), randomBytes(4096)]);
    const file = join(dir, "cut");
    await writeFile(file, Buffer.concat([ftyp, mdat]));
    await expect(probeFile(file, tools)).rejects.toThrow(new BadMediaError(BAD_MEDIA.truncated));
  });

  it("a missing ffprobe is a plain error, not bad media", async () => {
    const file = join(dir, "random2");
    await writeFile(file, noise(1024, "short"));
    const err = await probeFile(file, { ...tools, ffprobePath: "/nonexistent/ffprobe" }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(BadMediaError);
  });
});
