import { describe, expect, it } from "vitest";
import { buildFilterGraph, buildLadderArgs, buildVarStreamMap } from "../src/media/ffmpeg-args.ts";
import type { PlannedRung } from "../src/media/ladder.ts";
import { r480, r720, r1080 } from "./helpers/rungs.ts";

const encoder = { kind: "x264", preset: "veryfast" } as const;

function build(rungs: PlannedRung[], hasAudio: boolean, fps = { num: 30, den: 1 }) {
  return buildLadderArgs({
    input: "/work/job/source",
    outDir: "/work/job/out",
    facts: { hasAudio },
    rungs,
    fps,
    encoder,
  });
}

/** The value after each occurrence of `flag`. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] as string] : []));
}

describe("buildLadderArgs", () => {
  it("3 rungs + audio: one input, one filter graph, one output stream per rung, audio once", () => {
    const args = build([r1080, r720, r480], true);
    expect(values(args, "-i")).toEqual(["/work/job/source"]);
    expect(values(args, "-filter_complex")).toEqual([
      "[0:v:0]fps=30,split=3[s0][s1][s2];" +
        "[s0]scale=1920:1080,setsar=1,format=yuv420p[v0];" +
        "[s1]scale=1280:720,setsar=1,format=yuv420p[v1];" +
        "[s2]scale=854:480,setsar=1,format=yuv420p[v2]",
    ]);
    expect(values(args, "-map")).toEqual(["[v0]", "[v1]", "[v2]", "0:a:0"]);
    expect(values(args, "-var_stream_map")).toEqual([
      "v:0,agroup:aud,name:1080p v:1,agroup:aud,name:720p v:2,agroup:aud,name:480p a:0,agroup:aud,name:audio",
    ]);
    expect(values(args, "-c:a")).toEqual(["aac"]);
    expect(values(args, "-b:a")).toEqual(["128k"]);
    expect(values(args, "-ac")).toEqual(["2"]);
    expect(values(args, "-ar")).toEqual(["48000"]);
  });

  it("aligns keyframes: every rung gets the same GOP (2 s of frames), no scene-cut keyframes", () => {
    const args = build([r1080, r720, r480], true);
    for (const i of [0, 1, 2]) {
      expect(values(args, `-c:v:${i}`)).toEqual(["libx264"]);
      expect(values(args, `-g:v:${i}`)).toEqual(["60"]);
      expect(values(args, `-keyint_min:v:${i}`)).toEqual(["60"]);
      expect(values(args, `-sc_threshold:v:${i}`)).toEqual(["0"]);
      expect(values(args, `-force_key_frames:v:${i}`)).toEqual(["expr:gte(t,n_forced*2)"]);
      expect(values(args, `-profile:v:${i}`)).toEqual(["high"]);
      expect(values(args, `-preset:v:${i}`)).toEqual(["veryfast"]);
    }
    expect(values(args, "-maxrate:v:0")).toEqual(["7800000"]);
    expect(values(args, "-bufsize:v:0")).toEqual(["15600000"]);
    expect(values(args, "-maxrate:v:2")).toEqual(["1800000"]);
    expect(values(args, "-bufsize:v:2")).toEqual(["3600000"]);
  });

  it.each([
    [{ num: 30000, den: 1001 }, "fps=30000/1001", "60"],
    [{ num: 25, den: 1 }, "fps=25", "50"],
    [{ num: 60, den: 1 }, "fps=60", "120"],
    [{ num: 24000, den: 1001 }, "fps=24000/1001", "48"],
  ])("frame rate %o → %s and GOP %s", (fps, filter, gop) => {
    const args = build([r720], false, fps);
    expect(values(args, "-filter_complex")[0]).toContain(`[0:v:0]${filter},`);
    expect(values(args, "-g:v:0")).toEqual([gop]);
  });

  it("fMP4 HLS: 6 s VOD segments, named variant folders", () => {
    const args = build([r1080, r720, r480], true);
    expect(values(args, "-f")).toEqual(["hls"]);
    expect(values(args, "-hls_time")).toEqual(["6"]);
    expect(values(args, "-hls_playlist_type")).toEqual(["vod"]);
    expect(values(args, "-hls_segment_type")).toEqual(["fmp4"]);
    expect(values(args, "-hls_flags")).toEqual(["independent_segments"]);
    expect(values(args, "-hls_segment_filename")).toEqual(["/work/job/out/%v/seg_%05d.m4s"]);
    expect(values(args, "-hls_fmp4_init_filename")).toEqual(["init_%v.mp4"]);
    expect(values(args, "-start_number")).toEqual(["1"]);
    expect(args.at(-1)).toBe("/work/job/out/%v/index.m3u8");
  });

  it("1 rung without audio: no split, no audio map, no audio group", () => {
    const args = build([r480], false);
    expect(values(args, "-filter_complex")).toEqual([
      "[0:v:0]fps=30,scale=854:480,setsar=1,format=yuv420p[v0]",
    ]);
    expect(values(args, "-map")).toEqual(["[v0]"]);
    expect(values(args, "-var_stream_map")).toEqual(["v:0,name:480p"]);
    expect(args).not.toContain("-c:a");
    expect(args.join(" ")).not.toContain("agroup");
  });

  it("3 rungs without audio", () => {
    const args = build([r1080, r720, r480], false);
    expect(values(args, "-map")).toEqual(["[v0]", "[v1]", "[v2]"]);
    expect(values(args, "-var_stream_map")).toEqual(["v:0,name:1080p v:1,name:720p v:2,name:480p"]);
  });

  it("1 rung with audio keeps the var_stream_map as ONE argument (it contains exactly one space)", () => {
    const args = build([r480], true);
    expect(values(args, "-var_stream_map")).toEqual(["v:0,agroup:aud,name:480p a:0,agroup:aud,name:audio"]);
  });

  it("never decodes twice: exactly one -i and one -filter_complex", () => {
    const args = build([r1080, r720, r480], true);
    expect(args.filter((a) => a === "-i")).toHaveLength(1);
    expect(args.filter((a) => a === "-filter_complex")).toHaveLength(1);
  });

  it("refuses an empty ladder and a % in the output folder", () => {
    expect(() => build([], true)).toThrow(/at least one rung/);
    expect(() =>
      buildLadderArgs({
        input: "in",
        outDir: "/tmp/100%",
        facts: { hasAudio: false },
        rungs: [r480],
        fps: { num: 30, den: 1 },
        encoder,
      }),
    ).toThrow(/%/);
  });
});

describe("building blocks", () => {
  it("buildFilterGraph for two rungs", () => {
    expect(buildFilterGraph([r720, r480], { num: 50, den: 1 }, encoder)).toBe(
      "[0:v:0]fps=50,split=2[s0][s1];[s0]scale=1280:720,setsar=1,format=yuv420p[v0];[s1]scale=854:480,setsar=1,format=yuv420p[v1]",
    );
  });
  it("buildVarStreamMap with audio", () => {
    expect(buildVarStreamMap([r720], true)).toBe("v:0,agroup:aud,name:720p a:0,agroup:aud,name:audio");
  });
});
