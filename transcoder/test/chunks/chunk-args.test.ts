import { describe, expect, it } from "vitest";
import { buildChunkArgs, chunkKeyframeExpr, chunkTimescale } from "../../src/media/chunks/encode-chunk.ts";
import { planChunks } from "../../src/media/chunks/plan.ts";
import type { PlannedRung } from "../../src/media/ladder.ts";

const RUNGS: PlannedRung[] = [
  { name: "720p", width: 1280, height: 720, videoBitrate: 3e6, maxBitrate: 4.5e6, bufsize: 9e6 },
  { name: "480p", width: 854, height: 480, videoBitrate: 1.2e6, maxBitrate: 1.8e6, bufsize: 3.6e6 },
];
const NTSC = { num: 30000, den: 1001 };

const after = (args: string[], flag: string, from = 0) => args[args.indexOf(flag, from) + 1];

describe("chunkTimescale", () => {
  it.each([
    [{ num: 30, den: 1 }, 90_000, 3000],
    [NTSC, 90_000, 3003],
    [{ num: 24000, den: 1001 }, 360_000, 15015],
    [{ num: 60000, den: 1001 }, 180_000, 3003],
    [{ num: 25, den: 1 }, 90_000, 3600],
    [{ num: 2997, den: 100 }, 29_970_000, 1_000_000],
  ])("%o → %i ticks/s, %i a frame", (fps, timescale, frameTicks) => {
    expect(chunkTimescale(fps)).toEqual({ timescale, frameTicks });
  });
});

describe("buildChunkArgs", () => {
  const plan = planChunks({ durationSeconds: 600, fps: NTSC });
  const chunk = plan.chunks[2];
  if (!chunk) throw new Error("plan has no chunk 3");

  it("seeks ahead of the chunk, keeps source times up to the fps filter, then restarts at 0", () => {
    const args = buildChunkArgs({
      input: "/in/source",
      outputs: ["/w/0.mp4", "/w/1.mp4"],
      rungs: RUNGS,
      fps: NTSC,
      encoder: { kind: "x264", preset: "veryfast" },
      chunk,
      maxPixels: 8_294_400,
    });
    expect(chunk.startFrame).toBe(180);
    // 180 x 1001/30000 = 6.006 s; decode from a second before so the fps filter sees the frame for slot 180.
    expect(after(args, "-ss")).toBe("5.006000");
    expect(args.indexOf("-ss")).toBeLessThan(args.indexOf("-i"));
    expect(args).toContain("-copyts");
    expect(after(args, "-protocol_whitelist")).toBe("file");
    expect(after(args, "-max_pixels")).toBe("8294400");
    expect(after(args, "-filter_complex")).toBe(
      // Frames past a second after the chunk's end (30.03 s) are clamped there (a gap cannot flood fps).
      "[0:v:0]setpts='min(PTS,31.030000/TB)',fps=30000/1001:start_time=6.006000,setpts=PTS-STARTPTS,split=2[s0][s1];" +
        "[s0]scale=1280:720,setsar=1,format=yuv420p[v0];[s1]scale=854:480,setsar=1,format=yuv420p[v1]",
    );
    // One fragmented MP4 per rung, each with its own v:0 stream and the chunk's exact frame count.
    const second = args.indexOf("[v1]");
    for (const from of [0, second]) {
      expect(after(args, "-frames:v", from)).toBe(String(chunk.frameCount));
      expect(after(args, "-video_track_timescale", from)).toBe("90000");
      expect(after(args, "-movflags", from)).toBe("+frag_keyframe+empty_moov+default_base_moof");
      expect(after(args, "-use_editlist", from)).toBe("0");
      expect(after(args, "-force_key_frames:v:0", from)).toBe(chunkKeyframeExpr(chunk));
    }
    expect(after(args, "-maxrate:v:0", second)).toBe("1800000");
    expect(args.filter((a) => a.startsWith("-force_key_frames"))).toHaveLength(2);
    expect(args.at(-1)).toBe("/w/1.mp4");
  });

  it("places keyframes by frame number, exactly where the plan has them", () => {
    // Chunk 4 (30.03 s to 54.054 s): keyframe 17 is frame 1019 (1018.98), 119 frames after keyframe 16.
    const fourth = plan.chunks[3];
    expect(fourth?.startFrame).toBe(900);
    const expected = Array.from({ length: 12 }, (_, i) => Math.ceil((2 * (15 + i) * 30000) / 1001) - 900);
    expect(fourth?.keyframes).toEqual(expected);
    expect(expected.slice(0, 4)).toEqual([0, 60, 119, 179]);
    expect(chunkKeyframeExpr({ ...chunk, keyframes: [0, 60, 119] })).toBe("expr:eq(n,0)+eq(n,60)+eq(n,119)");
  });

  it("does not seek for the first chunk and keeps NVENC's GPU decode and upload", () => {
    const first = plan.chunks[0];
    if (!first) throw new Error("plan has no chunk 1");
    const args = buildChunkArgs({
      input: "/in/source",
      outputs: ["/w/0.mp4"],
      rungs: [RUNGS[0] as PlannedRung],
      fps: NTSC,
      encoder: { kind: "nvenc" },
      facts: { videoCodec: "h264", pixelFormat: "yuv420p", rotation: 0 },
      chunk: first,
    });
    expect(args).not.toContain("-ss");
    expect(after(args, "-hwaccel")).toBe("cuda");
    expect(after(args, "-filter_complex")).toBe(
      "[0:v:0]setpts='min(PTS,2.001000/TB)',fps=30000/1001:start_time=0.000000,setpts=PTS-STARTPTS,scale_cuda=w=1280:h=720:format=nv12,setsar=1[v0]",
    );
    expect(after(args, "-c:v:0")).toBe("h264_nvenc");
    expect(after(args, "-force_key_frames:v:0")).toBe("expr:eq(n,0)");
    const cpu = buildChunkArgs({
      input: "/in/source",
      outputs: ["/w/0.mp4"],
      rungs: [RUNGS[0] as PlannedRung],
      fps: NTSC,
      encoder: { kind: "nvenc" },
      facts: { videoCodec: "vp9", pixelFormat: "yuv420p10le" },
      chunk: first,
    });
    expect(after(cpu, "-filter_complex")).toContain(
      "fps=30000/1001:start_time=0.000000,format=nv12,hwupload_cuda,setpts",
    );
  });
});
