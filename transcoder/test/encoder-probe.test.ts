import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  classifyNvencFailure,
  type ExecFfmpeg,
  NVENC_HINTS,
  type NvencFailureKind,
  NvencUnavailableError,
  nvdecProbeArgs,
  nvencProbeArgs,
  probeEncoder,
  shouldFallBack,
} from "../src/media/encoder-probe.ts";

const FIXTURES = join(import.meta.dirname, "fixtures", "ffmpeg-errors");

/** Each fixture: "# kind: X", "# source: ...", then ffmpeg's stderr verbatim. */
function loadFixtures() {
  return readdirSync(FIXTURES)
    .filter((f) => f.endsWith(".txt"))
    .map((file) => {
      const text = readFileSync(join(FIXTURES, file), "utf8");
      const kind = /^# kind: (\w+)$/m.exec(text)?.[1];
      const source = /^# source: (.+)$/m.exec(text)?.[1];
      const stderr = text
        .split("\n")
        .filter((l) => !l.startsWith("# "))
        .join("\n");
      return { file, kind, source, stderr };
    });
}

describe("classifyNvencFailure on real ffmpeg output", () => {
  const fixtures = loadFixtures();

  it("has fixtures, each with a kind and a source", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(10);
    for (const f of fixtures) {
      expect(f.kind, f.file).toBeDefined();
      expect(f.source, f.file).toBeDefined();
      expect(Object.keys(NVENC_HINTS)).toContain(f.kind);
    }
  });

  it.each(fixtures)("$file → $kind", ({ kind, stderr }) => {
    const failure = classifyNvencFailure(stderr);
    expect(failure.kind).toBe(kind);
    expect(failure.hint).toBe(NVENC_HINTS[failure.kind]);
    expect(stderr).toContain(failure.message);
  });

  it("covers every kind except unknown with at least one real fixture", () => {
    const covered = new Set(fixtures.map((f) => f.kind));
    const kinds = Object.keys(NVENC_HINTS).filter((k) => k !== "unknown");
    expect(kinds.filter((k) => !covered.has(k))).toEqual([]);
  });
});

describe("classifyNvencFailure edge cases", () => {
  it.each<[string, string, NvencFailureKind]>([
    [
      "session cap wins over the misleading 'No NVENC capable devices found' after it",
      "[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: out of memory (10)\n[h264_nvenc @ 0x1] No NVENC capable devices found",
      "session_limit",
    ],
    [
      "missing encode library wins over the 'minimum required driver' line after it",
      "[h264_nvenc @ 0x1] Cannot load libnvidia-encode.so.1\n[h264_nvenc @ 0x1] The minimum required Nvidia driver for nvenc is 520.56.06 or newer",
      "no_video_capability",
    ],
    [
      "Video Codec SDK sample wording of the session cap",
      "NvEncoder : m_nvenc.nvEncOpenEncodeSessionEx(&encodeSessionExParams, &hEncoder) returned error 10 at NvEncoder.cpp:54",
      "session_limit",
    ],
    [
      "no encode device (1)",
      "[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: no encode device (1): (no details)",
      "no_nvenc",
    ],
    ["hevc encoder missing too", "Unknown encoder 'hevc_nvenc'", "ffmpeg_without_nvenc"],
    ["a feature the GPU lacks", "[h264_nvenc @ 0x1] Temporal AQ not supported", "unsupported_feature"],
    [
      "bad media is not an NVENC failure",
      "[h264 @ 0x1] Invalid NAL unit size\nsource.mp4: Invalid data found when processing input",
      "unknown",
    ],
    ["empty", "", "unknown"],
  ])("%s", (_, stderr, kind) => {
    expect(classifyNvencFailure(stderr).kind).toBe(kind);
  });

  it("unknown keeps the most telling line as its message", () => {
    expect(classifyNvencFailure("Input #0\nsomething failed badly\nConversion failed!").message).toBe(
      "something failed badly",
    );
  });

  it("every kind has exactly one non-empty hint line", () => {
    for (const hint of Object.values(NVENC_HINTS)) {
      expect(hint.length).toBeGreaterThan(20);
      expect(hint).not.toContain("\n");
    }
  });
});

describe("shouldFallBack (a job whose NVENC encode failed)", () => {
  it("session cap mid-job: retry this job on x264, keep NVENC (no re-probe)", () => {
    const decision = shouldFallBack([
      "[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: out of memory (10): (no details)",
      "[h264_nvenc @ 0x1] No capable devices found",
    ]);
    expect(decision?.failure.kind).toBe("session_limit");
    expect(decision?.reprobe).toBe(false);
  });

  it("GPU lost mid-run: retry on x264 and re-probe", () => {
    const decision = shouldFallBack(
      "[AVHWDeviceContext] cu->cuInit(0) failed -> CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected",
    );
    expect(decision).toMatchObject({ failure: { kind: "no_device" }, reprobe: true });
  });

  it("a failure that isn't NVENC's (bad media) is not retried on the CPU", () => {
    expect(shouldFallBack(["source.mp4: Invalid data found when processing input"])).toBeNull();
  });
});

function fakeExec(results: Record<string, { code: number | null; stderr: string }>) {
  const calls: string[][] = [];
  const exec: ExecFfmpeg = async (_path, args) => {
    calls.push(args);
    if (args.includes("testsrc2=size=1280x720:rate=30")) return results.encode ?? { code: 0, stderr: "" };
    if (args.includes("libx264")) return results.sample ?? { code: 0, stderr: "" };
    return results.decode ?? { code: 0, stderr: "" };
  };
  return { exec, calls };
}

const NO_NVENC_STDERR =
  "[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: unsupported device (2): (no details)\n[h264_nvenc @ 0x1] No capable devices found\n";

describe("probeEncoder decisions", () => {
  it("x264 requested: no ffmpeg run at all", async () => {
    const { exec, calls } = fakeExec({});
    const result = await probeEncoder({ ffmpegPath: "ffmpeg", want: "x264", exec });
    expect(calls).toEqual([]);
    expect(result).toMatchObject({ encoder: "x264", nvenc: { ok: false, probed: false } });
    expect(result.line).toContain("libx264");
  });

  it("auto on a GPU without NVENC: x264, and the line says why and what to do", async () => {
    const { exec } = fakeExec({ encode: { code: 1, stderr: NO_NVENC_STDERR } });
    const result = await probeEncoder({ ffmpegPath: "ffmpeg", want: "auto", exec });
    expect(result.encoder).toBe("x264");
    expect(result.nvenc).toMatchObject({ ok: false, probed: true, failure: { kind: "no_nvenc" } });
    expect(result.line).toContain("no_nvenc");
    expect(result.line).toContain(NVENC_HINTS.no_nvenc);
  });

  it("nvenc requested on a GPU without NVENC: throws, never falls back", async () => {
    const { exec } = fakeExec({ encode: { code: 1, stderr: NO_NVENC_STDERR } });
    const probe = probeEncoder({ ffmpegPath: "ffmpeg", want: "nvenc", exec });
    await expect(probe).rejects.toBeInstanceOf(NvencUnavailableError);
    await expect(probe).rejects.toThrow(/ENCODER=nvenc but NVENC does not work here \(no_nvenc/);
  });

  it("a probe that hangs counts as a failure (auto falls back)", async () => {
    const { exec } = fakeExec({ encode: { code: null, stderr: "" } });
    const result = await probeEncoder({ ffmpegPath: "ffmpeg", want: "auto", exec, timeoutMs: 1234 });
    expect(result.encoder).toBe("x264");
    expect(result.nvenc.failure?.message).toContain("1234 ms");
  });

  it("working NVENC and NVDEC: nvenc with GPU decode", async () => {
    const { exec, calls } = fakeExec({});
    const result = await probeEncoder({
      ffmpegPath: "ffmpeg",
      want: "auto",
      exec,
      nvenc: { kind: "nvenc", preset: "p4" },
    });
    expect(result.encoder).toBe("nvenc");
    expect(result.nvencSpec).toEqual({ kind: "nvenc", preset: "p4", hwDecode: true });
    expect(calls).toHaveLength(3);
    expect(result.line).toContain("h264_nvenc");
  });

  it("NVENC works but NVDEC doesn't: nvenc with CPU decode, said in the line", async () => {
    const { exec } = fakeExec({ decode: { code: 1, stderr: "[h264 @ 0x1] Failed setup for format cuda" } });
    const result = await probeEncoder({ ffmpegPath: "ffmpeg", want: "nvenc", exec });
    expect(result.nvencSpec?.hwDecode).toBe(false);
    expect(result.line).toContain("decoded on the CPU");
  });

  it("the probe encodes with the ladder's own NVENC options", () => {
    const args = nvencProbeArgs({ kind: "nvenc", preset: "p6" });
    expect(args).toContain("h264_nvenc");
    expect(args[args.indexOf("-preset:v:0") + 1]).toBe("p6");
    expect(args[args.indexOf("-temporal-aq:v:0") + 1]).toBe("1");
    expect(args[args.indexOf("-vf") + 1]).toBe(
      "format=nv12,hwupload_cuda,scale_cuda=w=640:h=360:format=nv12,setsar=1",
    );
    expect(nvdecProbeArgs("/tmp/s.mp4").slice(4, 8)).toEqual([
      "-hwaccel",
      "cuda",
      "-hwaccel_output_format",
      "cuda",
    ]);
  });
});

function hasFfmpeg(): boolean {
  try {
    execFileSync("ffmpeg", ["-hide_banner", "-version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe.skipIf(!hasFfmpeg())("probeEncoder with the real ffmpeg", () => {
  it("auto: a real 1-second encode; where it fails, the failure is recognised (not 'unknown')", async () => {
    const result = await probeEncoder({ ffmpegPath: "ffmpeg", want: "auto", timeoutMs: 60_000 });
    if (result.encoder === "nvenc") {
      expect(result.nvenc.ok).toBe(true);
      return;
    }
    // On this project's dev machines (no NVIDIA driver) this is no_driver.
    expect(result.nvenc.failure?.kind).not.toBe("unknown");
    expect(result.line).toContain(result.nvenc.failure?.hint);
  });

  it("nvenc on a machine where the probe fails rejects with the reason", async () => {
    const result = await probeEncoder({ ffmpegPath: "ffmpeg", want: "auto", timeoutMs: 60_000 });
    if (result.encoder === "nvenc") return;
    await expect(probeEncoder({ ffmpegPath: "ffmpeg", want: "nvenc", timeoutMs: 60_000 })).rejects.toThrow(
      result.nvenc.failure?.kind,
    );
  });

  it("a missing ffmpeg binary rejects (it is a start-up error, not an NVENC verdict)", async () => {
    await expect(
      probeEncoder({ ffmpegPath: "/nonexistent/ffmpeg", want: "auto", timeoutMs: 5_000 }),
    ).rejects.toThrow(/ENOENT/);
  });
});
