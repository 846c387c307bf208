import { execFile, execFileSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEncoder, type EncoderSpec, nvencDecodePath, type SourceFacts } from "../src/media/encoder.ts";
import { buildLadderArgs } from "../src/media/ffmpeg-args.ts";
import type { PlannedRung } from "../src/media/ladder.ts";
import { r480, r720, r1080 } from "./helpers/rungs.ts";

// A portrait phone clip: stored 1920x1080 with rotation 90, displayed 1080x1920.
const p720: PlannedRung = {
  name: "720p",
  width: 720,
  height: 1280,
  videoBitrate: 3_000_000,
  maxBitrate: 4_500_000,
  bufsize: 9_000_000,
};

const X264: EncoderSpec = { kind: "x264", preset: "veryfast" };
const NVENC: EncoderSpec = { kind: "nvenc" };
const FPS30 = { num: 30, den: 1 };

const H264_8BIT: SourceFacts = { rotation: 0, videoCodec: "h264", pixelFormat: "yuv420p" };
const ROTATED: SourceFacts = { rotation: 90, videoCodec: "h264", pixelFormat: "yuv420p" };
const HEVC_10BIT_422: SourceFacts = { rotation: 0, videoCodec: "hevc", pixelFormat: "yuv422p10le" };
const PRORES: SourceFacts = { rotation: 0, videoCodec: "prores", pixelFormat: "yuv422p10le" };

function build(encoder: EncoderSpec, rungs: PlannedRung[], hasAudio: boolean, source: SourceFacts = {}) {
  return buildLadderArgs({
    input: "/work/job/source",
    outDir: "/work/job/out",
    facts: { hasAudio, ...source },
    rungs,
    fps: FPS30,
    encoder,
  });
}

/** The value after each occurrence of `flag`. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] as string] : []));
}

/** The single value of `flag`, or undefined. */
function one(args: string[], flag: string): string | undefined {
  const found = values(args, flag);
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0];
}

describe("nvencDecodePath", () => {
  it.each([
    ["8-bit H.264, upright", H264_8BIT, "gpu"],
    ["8-bit HEVC, upright", { rotation: 0, videoCodec: "hevc", pixelFormat: "yuv420p" }, "gpu"],
    ["full-range JPEG-style 4:2:0", { rotation: 0, videoCodec: "h264", pixelFormat: "yuvj420p" }, "gpu"],
    ["rotated 90", ROTATED, "gpu-download"],
    ["rotated 180", { ...H264_8BIT, rotation: 180 }, "gpu-download"],
    ["rotated 270", { ...H264_8BIT, rotation: 270 }, "gpu-download"],
    ["10-bit 4:2:2 HEVC", HEVC_10BIT_422, "cpu"],
    [
      "10-bit 4:2:0 HEVC (NVDEC would hand p010)",
      { ...H264_8BIT, videoCodec: "hevc", pixelFormat: "yuv420p10le" },
      "cpu",
    ],
    ["ProRes", PRORES, "cpu"],
    ["VP9 (NVDEC depends on the GPU generation)", { ...H264_8BIT, videoCodec: "vp9" }, "cpu"],
    ["pixel format unknown (not probed)", { rotation: 0, videoCodec: "h264" }, "cpu"],
    ["nothing known", {}, "cpu"],
  ] as const)("%s → %s", (_, source, path) => {
    expect(nvencDecodePath(source)).toBe(path);
  });

  it("hwDecode: false (the probe found NVDEC broken) always decodes on the CPU", () => {
    expect(nvencDecodePath(H264_8BIT, false)).toBe("cpu");
  });
});

describe("the filter graph and input options per encoder and source", () => {
  it.each([
    {
      name: "x264, 1 rung",
      encoder: X264,
      rungs: [r480],
      source: H264_8BIT,
      input: [],
      graph: "[0:v:0]fps=30,scale=854:480,setsar=1,format=yuv420p[v0]",
    },
    {
      name: "x264, rotated: ffmpeg's autorotate handles it, nothing extra",
      encoder: X264,
      rungs: [p720],
      source: ROTATED,
      input: [],
      graph: "[0:v:0]fps=30,scale=720:1280,setsar=1,format=yuv420p[v0]",
    },
    {
      name: "nvenc, 1 rung, full GPU",
      encoder: NVENC,
      rungs: [r480],
      source: H264_8BIT,
      input: ["-hwaccel", "cuda", "-hwaccel_output_format", "cuda"],
      graph: "[0:v:0]fps=30,scale_cuda=w=854:h=480:format=nv12,setsar=1[v0]",
    },
    {
      name: "nvenc, 3 rungs, full GPU",
      encoder: NVENC,
      rungs: [r1080, r720, r480],
      source: H264_8BIT,
      input: ["-hwaccel", "cuda", "-hwaccel_output_format", "cuda"],
      graph:
        "[0:v:0]fps=30,split=3[s0][s1][s2];" +
        "[s0]scale_cuda=w=1920:h=1080:format=nv12,setsar=1[v0];" +
        "[s1]scale_cuda=w=1280:h=720:format=nv12,setsar=1[v1];" +
        "[s2]scale_cuda=w=854:h=480:format=nv12,setsar=1[v2]",
    },
    {
      name: "nvenc, rotated: NVDEC, download, CPU autorotate, one upload before the split",
      encoder: NVENC,
      rungs: [p720],
      source: ROTATED,
      input: ["-hwaccel", "cuda"],
      graph: "[0:v:0]fps=30,format=nv12,hwupload_cuda,scale_cuda=w=720:h=1280:format=nv12,setsar=1[v0]",
    },
    {
      name: "nvenc, 10-bit 4:2:2: CPU decode, 8-bit nv12 on the CPU, upload",
      encoder: NVENC,
      rungs: [r1080, r720],
      source: HEVC_10BIT_422,
      input: [],
      graph:
        "[0:v:0]fps=30,format=nv12,hwupload_cuda,split=2[s0][s1];" +
        "[s0]scale_cuda=w=1920:h=1080:format=nv12,setsar=1[v0];" +
        "[s1]scale_cuda=w=1280:h=720:format=nv12,setsar=1[v1]",
    },
    {
      name: "nvenc, codec NVDEC lacks (ProRes): CPU decode + upload",
      encoder: NVENC,
      rungs: [r720],
      source: PRORES,
      input: [],
      graph: "[0:v:0]fps=30,format=nv12,hwupload_cuda,scale_cuda=w=1280:h=720:format=nv12,setsar=1[v0]",
    },
  ])("$name", ({ encoder, rungs, source, input, graph }) => {
    const args = build(encoder, rungs, true, source);
    expect(args.slice(args.indexOf("-y") + 1, args.indexOf("-i"))).toEqual(input);
    expect(values(args, "-filter_complex")).toEqual([graph]);
    expect(values(args, "-i")).toEqual(["/work/job/source"]);
  });
});

describe("per-output video options", () => {
  const ladders = [
    { rungs: [r480], hasAudio: false },
    { rungs: [r1080, r720, r480], hasAudio: true },
    { rungs: [r1080, r720, r480], hasAudio: false },
  ];

  describe.each(ladders)("$rungs.length rung(s), audio: $hasAudio", ({ rungs, hasAudio }) => {
    it("x264: capped CRF, aligned GOP, no scene cuts", () => {
      const args = build(X264, rungs, hasAudio, H264_8BIT);
      rungs.forEach((rung, i) => {
        const s = `:v:${i}`;
        expect(one(args, `-c${s}`)).toBe("libx264");
        expect(one(args, `-crf${s}`)).toBe("21");
        expect(one(args, `-maxrate${s}`)).toBe(String(rung.maxBitrate));
        expect(one(args, `-bufsize${s}`)).toBe(String(rung.bufsize));
        expect(one(args, `-g${s}`)).toBe("60");
        expect(one(args, `-keyint_min${s}`)).toBe("60");
        expect(one(args, `-sc_threshold${s}`)).toBe("0");
        expect(one(args, `-force_key_frames${s}`)).toBe("expr:gte(t,n_forced*2)");
      });
      expect(args.some((a) => a.startsWith("-hwaccel"))).toBe(false);
    });

    it("nvenc: VOD quality settings, rung bitrates, aligned IDR-only GOP, never -level", () => {
      const args = build(NVENC, rungs, hasAudio, H264_8BIT);
      rungs.forEach((rung, i) => {
        const s = `:v:${i}`;
        expect(one(args, `-c${s}`)).toBe("h264_nvenc");
        expect(one(args, `-preset${s}`)).toBe("p5");
        expect(one(args, `-tune${s}`)).toBe("hq");
        expect(one(args, `-profile${s}`)).toBe("high");
        expect(one(args, `-rc${s}`)).toBe("vbr");
        expect(one(args, `-multipass${s}`)).toBe("qres");
        expect(one(args, `-b${s}`)).toBe(String(rung.videoBitrate));
        expect(one(args, `-maxrate${s}`)).toBe(String(rung.maxBitrate));
        expect(one(args, `-bufsize${s}`)).toBe(String(rung.bufsize));
        expect(one(args, `-bf${s}`)).toBe("3");
        expect(one(args, `-b_ref_mode${s}`)).toBe("middle");
        expect(one(args, `-spatial-aq${s}`)).toBe("1");
        expect(one(args, `-temporal-aq${s}`)).toBe("1");
        expect(one(args, `-rc-lookahead${s}`)).toBe("20");
        expect(one(args, `-g${s}`)).toBe("60");
        expect(one(args, `-keyint_min${s}`)).toBe("60");
        expect(one(args, `-no-scenecut${s}`)).toBe("1");
        expect(one(args, `-forced-idr${s}`)).toBe("1");
        expect(one(args, `-force_key_frames${s}`)).toBe("expr:gte(t,n_forced*2)");
        expect(one(args, `-crf${s}`)).toBeUndefined();
        expect(one(args, `-sc_threshold${s}`)).toBeUndefined();
      });
      expect(args.filter((a) => a.startsWith("-level"))).toEqual([]);
      expect(values(args, "-map")).toEqual([
        ...rungs.map((_, i) => `[v${i}]`),
        ...(hasAudio ? ["0:a:0"] : []),
      ]);
      expect(values(args, "-c:a")).toEqual(hasAudio ? ["aac"] : []);
    });
  });

  it("nvenc preset and lookahead are configurable; the GOP follows the frame rate", () => {
    const args = buildLadderArgs({
      input: "in.mp4",
      outDir: "/out",
      facts: { hasAudio: false },
      rungs: [r720],
      fps: { num: 25, den: 1 },
      encoder: { kind: "nvenc", preset: "p7", lookahead: 32 },
    });
    expect(one(args, "-preset:v:0")).toBe("p7");
    expect(one(args, "-rc-lookahead:v:0")).toBe("32");
    expect(one(args, "-g:v:0")).toBe("50");
  });

  it("createEncoder keeps the x264 scale chain the seed used", () => {
    expect(createEncoder(X264).scaleFilter(640, 360)).toBe("scale=640:360,setsar=1,format=yuv420p");
  });
});

// The real Debian ffmpeg on a machine WITHOUT a GPU: the NVENC command must get as far as CUDA
// initialisation, i.e. every option name, option value and filter in it parsed.
const SYNTAX_ERRORS =
  /Unrecognized option|No such filter|Error parsing|Option not found|Error setting option|Invalid argument|Undefined constant|Error initializing filter '(?!hwupload_cuda)/;
const CUDA_INIT =
  /Cannot load libcuda\.so\.1|cuInit|CUDA_ERROR|Cannot load libnvidia-encode|No NVENC capable|OpenEncodeSessionEx/;

function hasFfmpeg(): boolean {
  try {
    execFileSync("ffmpeg", ["-hide_banner", "-h", "filter=scale_cuda"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function ffmpeg(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile("ffmpeg", args, { timeout: 60_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? -1) : 0, stderr });
    });
  });
}

describe.skipIf(!hasFfmpeg())("real ffmpeg parses the NVENC command (no GPU needed)", () => {
  let dir = "";
  let source = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "streamlet-nvenc-args-"));
    source = join(dir, "source.mp4");
    const made = await ffmpeg([
      "-hide_banner",
      "-nostdin",
      "-f",
      "lavfi",
      "-i",
      "testsrc2=size=640x360:rate=30",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:sample_rate=48000",
      "-t",
      "1",
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-c:a",
      "aac",
      source,
    ]);
    expect(made.code).toBe(0);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ["3 rungs + audio, full GPU", [r1080, r720, r480], true, H264_8BIT],
    ["1 rung, no audio, full GPU", [r480], false, H264_8BIT],
    ["rotated: NVDEC + download + hwupload_cuda", [p720], true, ROTATED],
    ["10-bit 4:2:2: CPU decode + hwupload_cuda", [r1080, r720], true, HEVC_10BIT_422],
  ] as const)("%s: fails only at CUDA init", async (_, rungs, hasAudio, facts) => {
    const args = buildLadderArgs({
      input: source,
      outDir: join(dir, "out"),
      facts: { hasAudio, ...facts },
      rungs: [...rungs],
      fps: FPS30,
      encoder: NVENC,
    });
    const { code, stderr } = await ffmpeg(args);
    if (code === 0) return; // a machine with a working NVENC GPU: even better
    expect(stderr).not.toMatch(SYNTAX_ERRORS);
    expect(stderr).toMatch(CUDA_INIT);

    // Without a driver hwupload_cuda fails while the graph is still being parsed, so the scale_cuda
    // branches after it went unchecked. Swap it for `null`: parsing then completes and the run stops
    // at format negotiation (system-memory frames can't feed scale_cuda), after every filter parsed.
    const graph = values(args, "-filter_complex")[0] as string;
    if (!graph.includes("hwupload_cuda")) return;
    const at = args.indexOf(graph);
    const parsedOnly = await ffmpeg(args.with(at, graph.replace("hwupload_cuda", "null")));
    expect(parsedOnly.stderr).not.toMatch(SYNTAX_ERRORS);
    expect(parsedOnly.stderr).toMatch(/Impossible to convert between the formats|Cannot load libcuda/);
  });

  it("every h264_nvenc option VALUE is accepted (the encoder opens far enough to load CUDA)", async () => {
    // Feed CPU frames straight to h264_nvenc: ffmpeg applies the options before it loads libcuda, so a
    // bad value ("-preset p9", "-multipass quarter") fails with "Error setting option" before CUDA.
    const enc = createEncoder(NVENC);
    const rungs = [r1080, r720, r480];
    const args = [
      "-hide_banner",
      "-nostdin",
      "-f",
      "lavfi",
      "-i",
      "testsrc2=size=640x360:rate=30",
      "-t",
      "1",
      "-filter_complex",
      "[0:v:0]split=3[v0][v1][v2]",
      ...rungs.flatMap((rung, i) => ["-map", `[v${i}]`, ...enc.videoArgs(rung, i, FPS30)]),
      "-f",
      "null",
      "-",
    ];
    const { code, stderr } = await ffmpeg(args);
    if (code === 0) return;
    expect(stderr).not.toMatch(SYNTAX_ERRORS);
    expect(stderr).toMatch(CUDA_INIT);
  });

  it("the check itself catches a bad value and a bad filter option", async () => {
    const bad = await ffmpeg([
      "-hide_banner",
      "-f",
      "lavfi",
      "-i",
      "testsrc2",
      "-t",
      "1",
      "-c:v:0",
      "h264_nvenc",
      "-multipass:v:0",
      "quarter",
      "-f",
      "null",
      "-",
    ]);
    expect(bad.stderr).toMatch(SYNTAX_ERRORS);
    const badFilter = await ffmpeg([
      "-hide_banner",
      "-f",
      "lavfi",
      "-i",
      "testsrc2",
      "-t",
      "1",
      "-filter_complex",
      "[0:v:0]scale_cuda=w=2:height=2[v0]",
      "-map",
      "[v0]",
      "-f",
      "null",
      "-",
    ]);
    expect(badFilter.stderr).toMatch(SYNTAX_ERRORS);
  });
});
