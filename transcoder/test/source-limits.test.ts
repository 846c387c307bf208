import { execFile } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadMediaError } from "../src/media/errors.ts";
import {
  checkSourceLimits,
  DEFAULT_SOURCE_LIMITS,
  type LimitFacts,
  SPARSE_FRAME_RATIO,
} from "../src/media/limits.ts";
import { probeFile } from "../src/media/probe.ts";

const run = promisify(execFile);

/** A 1080p30 CFR clip of 10 minutes with all its frames: the ordinary case. */
const ordinary: LimitFacts = {
  codedWidth: 1920,
  codedHeight: 1080,
  frameRate: { num: 30, den: 1 },
  fps: 30,
  variableFrameRate: false,
  durationSeconds: 600,
  videoPackets: 18_000,
};

const refusal = (facts: Partial<LimitFacts>): string | null => {
  try {
    checkSourceLimits({ ...ordinary, ...facts }, DEFAULT_SOURCE_LIMITS);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(BadMediaError);
    return (err as Error).message;
  }
};

describe("checkSourceLimits", () => {
  it("accepts ordinary sources up to the limits", () => {
    expect(refusal({})).toBeNull();
    expect(
      refusal({ codedWidth: 7680, codedHeight: 4320, fps: 15, frameRate: { num: 15, den: 1 } }),
    ).toBeNull();
    expect(
      refusal({ codedWidth: 3840, codedHeight: 2160, fps: 60, frameRate: { num: 60, den: 1 } }),
    ).toBeNull();
    expect(refusal({ durationSeconds: 6 * 3600, videoPackets: 6 * 3600 * 30 })).toBeNull();
    expect(refusal({ videoPackets: null })).toBeNull();
    // A short clip with few frames (a slideshow) invents few duplicates: encoded, not refused.
    expect(refusal({ durationSeconds: 60, videoPackets: 2 })).toBeNull();
  });

  it.each([
    [
      { durationSeconds: 6 * 3600 + 1, videoPackets: 700_000 },
      /6\.0 h long, longer than the 6\.0 h accepted/,
    ],
    [{ codedWidth: 16_000, codedHeight: 16_000 }, /16000x16000, larger than the 8192x8192 accepted/],
    [{ codedWidth: 8192, codedHeight: 8193 }, /larger than the 8192x8192/],
    [{ fps: 1000, frameRate: { num: 1000, den: 1 } }, /1000 fps, above the 240 fps/],
    [
      { codedWidth: 3840, codedHeight: 2160, fps: 120, frameRate: { num: 120, den: 1 } },
      /more pixels per second/,
    ],
    // The measured attack: two 1080p frames ten hours apart at a nominal 60 fps (under a raised limit
    // here, and two hours apart below, so the sparse-timeline check is what refuses them).
    [
      { durationSeconds: 7200, videoPackets: 2, fps: 60, frameRate: { num: 60, den: 1 } },
      /frames are far apart \(2 frames over 2\.0 h\)/,
    ],
  ])("refuses %o", (facts, reason) => {
    expect(refusal(facts)).toMatch(reason);
  });

  it("counts a sparse timeline in output frames, at the ratio documented", () => {
    const hour = { durationSeconds: 3600 };
    const expected = 3600 * 30;
    expect(refusal({ ...hour, videoPackets: expected / SPARSE_FRAME_RATIO })).toBeNull();
    expect(refusal({ ...hour, videoPackets: expected / SPARSE_FRAME_RATIO - 1 })).toMatch(/far apart/);
  });
});

describe("probeFile refuses what the limits exclude, from the headers and packet counts alone", () => {
  let dir: string;
  const tools = { ffprobePath: "ffprobe", ffmpegPath: "ffmpeg" };
  const ffmpeg = (args: string[]) => run("ffmpeg", ["-v", "error", "-nostdin", "-y", ...args]);
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamlet-limits-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("three 1080p frames an hour apart at a nominal 60 fps (a few KB asking for 432 000 frames a rung)", async () => {
    const file = join(dir, "gap.mkv");
    await ffmpeg([
      ...["-f", "lavfi", "-i", "color=s=1920x1080:r=60:d=0.0334"],
      ...["-vf", "setpts=N*3600*60", "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast"],
      ...["-r", "60", file],
    ]);
    expect((await stat(file)).size).toBeLessThan(64 * 1024);
    const started = Date.now();
    await expect(probeFile(file, tools)).rejects.toThrow(/frames are far apart \(3 frames over 2\.0 h\)/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("frames ten hours apart: longer than the maximum duration", async () => {
    const file = join(dir, "ten-hours.mp4");
    await ffmpeg([
      ...["-f", "lavfi", "-i", "color=s=1920x1080:r=60:d=0.0334"],
      ...["-vf", "setpts=N*36000/TB", "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "ultrafast"],
      file,
    ]);
    await expect(probeFile(file, tools)).rejects.toThrow(/h long, longer than the 6\.0 h accepted here/);
  });

  it("an MJPEG AVI of 9000x9000 frames is refused before anything decodes it", async () => {
    const file = join(dir, "huge.avi");
    await ffmpeg(["-f", "lavfi", "-i", "color=s=9000x9000:d=0.2:r=5", "-c:v", "mjpeg", "-q:v", "31", file]);
    await expect(probeFile(file, tools)).rejects.toThrow(
      /9000x9000, larger than the 8192x8192 accepted here/,
    );
  }, 30_000);

  it("limits are parameters: a raised width and height let the same AVI through", async () => {
    const file = join(dir, "huge.avi");
    const limits = { ...DEFAULT_SOURCE_LIMITS, maxWidth: 9000, maxHeight: 9000, maxPixelRate: 1e12 };
    const facts = await probeFile(file, { ...tools, limits });
    expect([facts.width, facts.height]).toEqual([9000, 9000]);
  });
});
