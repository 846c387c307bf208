import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";

const minimal = {
  REDIS_URL: "redis://127.0.0.1:6379",
  S3_ENDPOINT: "http://127.0.0.1:9000/",
  S3_BUCKET: "streamlet",
  S3_ACCESS_KEY_ID: "key",
  S3_SECRET_ACCESS_KEY: "secret",
  EDGE_URL: "http://127.0.0.1:8787",
  TRANSCODER_SECRET: "0123456789abcdef",
};

describe("loadConfig", () => {
  it("applies defaults and freezes the result", () => {
    const config = loadConfig({ ...minimal, WORK_DIR: "/scratch" });
    expect(config).toMatchObject({
      s3: { endpoint: "http://127.0.0.1:9000", region: "us-east-1" },
      concurrency: 1,
      progressAckTimeoutMs: 60_000,
      x264Preset: "veryfast",
      workDir: "/scratch",
      ffmpegPath: "ffmpeg",
      ffprobePath: "ffprobe",
      encoder: "x264",
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.s3)).toBe(true);
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig({ ...minimal, TRANSCODER_CONCURRENCY: "", X264_PRESET: "" }).concurrency).toBe(1);
  });

  it("lists every problem at once", () => {
    const err = (() => {
      try {
        loadConfig({ REDIS_URL: "http://nope", TRANSCODER_SECRET: "short", TRANSCODER_CONCURRENCY: "two" });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    for (const name of [
      "REDIS_URL",
      "S3_ENDPOINT",
      "S3_BUCKET",
      "S3_ACCESS_KEY_ID",
      "S3_SECRET_ACCESS_KEY",
      "EDGE_URL",
      "TRANSCODER_SECRET",
      "TRANSCODER_CONCURRENCY",
    ]) {
      expect(message).toContain(`- ${name}:`);
    }
    expect(message).not.toContain("short"); // values (secrets) never echo back
  });

  it.each([
    ["ENCODER", "nvenc", /NVENC is not supported yet/],
    ["X264_PRESET", "turbo", /X264_PRESET/],
    ["TRANSCODER_CONCURRENCY", "0", /whole number from 1 to 32/],
    ["PROGRESS_ACK_TIMEOUT_MS", "5", /PROGRESS_ACK_TIMEOUT_MS must be/],
  ])("rejects %s=%s", (name, value, message) => {
    expect(() => loadConfig({ ...minimal, [name]: value })).toThrow(message);
  });

  it("accepts ENCODER=x264 and auto", () => {
    expect(loadConfig({ ...minimal, ENCODER: "x264" }).encoder).toBe("x264");
    expect(loadConfig({ ...minimal, ENCODER: "auto" }).encoder).toBe("x264");
  });
});
