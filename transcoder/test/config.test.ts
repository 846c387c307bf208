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
      maxJobsInFlightPerUser: 2,
      progressAckTimeoutMs: 60_000,
      x264Preset: "veryfast",
      workDir: "/scratch",
      ffmpegPath: "ffmpeg",
      ffprobePath: "ffprobe",
      encoder: "auto",
      nvencSessionLimit: 8,
      ops: { host: "127.0.0.1", port: 9464, dashboardToken: null },
      lockDurationMs: 300_000,
      stalledIntervalMs: 30_000,
      maxStalledCount: 2,
      shutdownGraceMs: 300_000,
      sourceLimits: {
        maxDurationSeconds: 21_600,
        maxWidth: 8192,
        maxHeight: 8192,
        maxPixelRate: 3840 * 2160 * 60,
        maxFps: 240,
      },
      ffmpegTimeLimit: { factor: 20, minimumMs: 600_000 },
      ffmpegMemoryLimitBytes: 8192 * 1024 * 1024,
    });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.s3)).toBe(true);
    expect(Object.isFrozen(config.ops)).toBe(true);
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
    ["ENCODER", "gpu", /ENCODER must be "auto", "nvenc" or "x264"/],
    ["NVENC_SESSION_LIMIT", "0", /NVENC_SESSION_LIMIT must be a whole number from 1 to 64/],
    ["NVENC_SESSION_LIMIT", "65", /NVENC_SESSION_LIMIT must be a whole number from 1 to 64/],
    ["NVENC_SESSION_LIMIT", "2.5", /NVENC_SESSION_LIMIT must be a whole number from 1 to 64/],
    ["OPS_PORT", "65536", /OPS_PORT must be a whole number from 0 to 65535/],
    ["OPS_PORT", "http", /OPS_PORT must be a whole number from 0 to 65535/],
    ["LOCK_DURATION_MS", "999", /LOCK_DURATION_MS must be a whole number of milliseconds from 1000/],
    ["STALLED_INTERVAL_MS", "100", /STALLED_INTERVAL_MS must be a whole number of milliseconds from 500/],
    ["MAX_STALLED_COUNT", "-1", /MAX_STALLED_COUNT must be a whole number from 0 to 100/],
    ["SHUTDOWN_GRACE_MS", "-5", /SHUTDOWN_GRACE_MS must be .*\(0 hands jobs back at once\)/],
    ["SHUTDOWN_GRACE_MS", "5m", /SHUTDOWN_GRACE_MS must be a whole number of milliseconds/],
    ["X264_PRESET", "turbo", /X264_PRESET/],
    ["TRANSCODER_CONCURRENCY", "0", /whole number from 1 to 32/],
    ["MAX_JOBS_IN_FLIGHT_PER_USER", "0", /MAX_JOBS_IN_FLIGHT_PER_USER must be a whole number from 1 to 64/],
    ["MAX_JOBS_IN_FLIGHT_PER_USER", "65", /MAX_JOBS_IN_FLIGHT_PER_USER must be a whole number from 1 to 64/],
    ["MAX_JOBS_IN_FLIGHT_PER_USER", "1.5", /MAX_JOBS_IN_FLIGHT_PER_USER must be a whole number from 1 to 64/],
    ["MAX_JOBS_IN_FLIGHT_PER_USER", "two", /MAX_JOBS_IN_FLIGHT_PER_USER must be a whole number from 1 to 64/],
    ["PROGRESS_ACK_TIMEOUT_MS", "5", /PROGRESS_ACK_TIMEOUT_MS must be/],
  ])("rejects %s=%s", (name, value, message) => {
    expect(() => loadConfig({ ...minimal, [name]: value })).toThrow(message);
  });

  it("keeps the wanted ENCODER (the start-up probe resolves auto)", () => {
    for (const encoder of ["auto", "nvenc", "x264"]) {
      expect(loadConfig({ ...minimal, ENCODER: encoder }).encoder).toBe(encoder);
    }
  });

  it("reads the ops listener, lock, stall and shutdown settings", () => {
    const config = loadConfig({
      ...minimal,
      NVENC_SESSION_LIMIT: "3",
      MAX_JOBS_IN_FLIGHT_PER_USER: "1",
      OPS_PORT: "0",
      OPS_HOST: "0.0.0.0",
      LOCK_DURATION_MS: "1000",
      STALLED_INTERVAL_MS: "500",
      MAX_STALLED_COUNT: "0",
      SHUTDOWN_GRACE_MS: "0",
    });
    expect(config).toMatchObject({
      nvencSessionLimit: 3,
      maxJobsInFlightPerUser: 1,
      ops: { host: "0.0.0.0", port: 0 },
      lockDurationMs: 1000,
      stalledIntervalMs: 500,
      maxStalledCount: 0,
      shutdownGraceMs: 0,
    });
  });

  it("turns the queue dashboard on with OPS_DASHBOARD_TOKEN, off when unset or empty", () => {
    const token = "t".repeat(24);
    expect(loadConfig({ ...minimal, OPS_DASHBOARD_TOKEN: token }).ops.dashboardToken).toBe(token);
    expect(loadConfig({ ...minimal, OPS_DASHBOARD_TOKEN: "" }).ops.dashboardToken).toBeNull();
    expect(loadConfig(minimal).ops.dashboardToken).toBeNull();
  });

  it("refuses a short OPS_DASHBOARD_TOKEN without echoing it", () => {
    const short = "secret-but-too-short";
    let message = "";
    try {
      loadConfig({ ...minimal, OPS_DASHBOARD_TOKEN: short });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/- OPS_DASHBOARD_TOKEN: OPS_DASHBOARD_TOKEN must be at least 24 characters/);
    expect(message).not.toContain(short);
  });

  it("reads the source limits and ffmpeg's time limit", () => {
    const config = loadConfig({
      ...minimal,
      MAX_SOURCE_DURATION_SECONDS: "60",
      MAX_SOURCE_WIDTH: "1920",
      MAX_SOURCE_HEIGHT: "1080",
      MAX_SOURCE_PIXEL_RATE: "62208000",
      MAX_SOURCE_FPS: "30",
      FFMPEG_TIME_LIMIT_FACTOR: "5",
      FFMPEG_MIN_TIME_LIMIT_MS: "60000",
    });
    expect(config.sourceLimits).toEqual({
      maxDurationSeconds: 60,
      maxWidth: 1920,
      maxHeight: 1080,
      maxPixelRate: 62_208_000,
      maxFps: 30,
    });
    expect(config.ffmpegTimeLimit).toEqual({ factor: 5, minimumMs: 60_000 });
    expect(() => loadConfig({ ...minimal, MAX_SOURCE_FPS: "0" })).toThrow(/MAX_SOURCE_FPS/);
    expect(loadConfig({ ...minimal, FFMPEG_MEMORY_LIMIT_MB: "0" }).ffmpegMemoryLimitBytes).toBeNull();
    expect(loadConfig({ ...minimal, FFMPEG_MEMORY_LIMIT_MB: "512" }).ffmpegMemoryLimitBytes).toBe(
      512 * 1024 * 1024,
    );
  });
});
