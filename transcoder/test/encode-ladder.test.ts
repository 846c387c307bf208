import { describe, expect, it } from "vitest";
import { fallbackVerdict } from "../src/encode-ladder.ts";
import {
  type EncoderSpec,
  FfmpegDeadlineError,
  FfmpegError,
  FfmpegStalledError,
} from "../src/media/index.ts";

const nvenc: EncoderSpec = { kind: "nvenc" };
const x264: EncoderSpec = { kind: "x264", preset: "veryfast" };
const failed = (...tail: string[]) => new FfmpegError("ffmpeg exited with code 1", "ffmpeg -i x out", tail);
const sessionCap = failed("[h264_nvenc @ 0x1] OpenEncodeSessionEx failed: out of memory (10)");
const noDriver = failed("[h264_nvenc @ 0x1] Cannot load libcuda.so.1");
const unnamed = failed("[h264_nvenc @ 0x1] something nobody has seen before");
const stalled = new FfmpegStalledError("ffmpeg printed nothing for 300 s and was stopped", "ffmpeg", []);

describe("the encoder-fallback policy", () => {
  it.each([
    ["a session-cap failure: x264 now, keep NVENC", sessionCap, { kind: "session_limit", reprobe: false }],
    ["a driver failure: x264 now, re-probe", noDriver, { kind: "no_driver", reprobe: true }],
    ["an NVENC failure nobody recognises: x264 now, nothing to re-probe for", unnamed, null],
    ["a stalled GPU encode: x264 now", stalled, null],
  ])("%s", (_label, err, expected) => {
    const verdict = fallbackVerdict(err, nvenc, true, false);
    expect(verdict.fallBack).toBe(true);
    const decision = verdict.fallBack ? verdict.decision : undefined;
    expect(decision ? { kind: decision.failure.kind, reprobe: decision.reprobe } : decision).toEqual(
      expected,
    );
  });

  it.each([
    ["an x264 encode (nothing to fall back from)", noDriver, x264, true, false],
    ["no fallback encoder configured", noDriver, nvenc, false, false],
    ["an aborted job (shutdown, deleted video)", noDriver, nvenc, true, true],
    ["a failure that is not an ffmpeg run (storage, a bug)", new Error("ENOSPC"), nvenc, true, false],
    [
      "an encode past its deadline (x264 would get a second one)",
      new FfmpegDeadlineError(1, "ffmpeg", []),
      nvenc,
      true,
      false,
    ],
  ])("never for %s", (_label, err, encoder, hasFallback, aborted) => {
    expect(fallbackVerdict(err, encoder, hasFallback, aborted)).toEqual({ fallBack: false });
  });
});
