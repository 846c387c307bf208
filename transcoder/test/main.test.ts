import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";

/**
 * The real start-up of a node (transcoder/src/main.ts in its own process) on this GPU-less machine: the
 * encoder probe really runs ffmpeg's h264_nvenc, which fails for want of a driver. Redis is unreachable
 * on purpose: nothing here needs it.
 */
const ENV = {
  REDIS_URL: "redis://127.0.0.1:1",
  S3_ENDPOINT: "http://127.0.0.1:1",
  S3_BUCKET: "b",
  S3_ACCESS_KEY_ID: "a",
  S3_SECRET_ACCESS_KEY: "b",
  EDGE_URL: "http://127.0.0.1:1",
  TRANSCODER_SECRET: "0123456789abcdef",
  OPS_PORT: "0",
};

type Line = Record<string, unknown>;

/** Runs main.ts until it exits or `until` matches a log line (then SIGKILLs it). */
function startNode(env: Record<string, string>, until?: (line: Line) => boolean) {
  const child = spawn(process.execPath, ["--import", "tsx", "transcoder/src/main.ts"], {
    env: { ...process.env, ...ENV, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Line[] = [];
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let buffered = "";
  child.stdout.on("data", (d: Buffer) => {
    buffered += d.toString();
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    for (const text of parts) {
      try {
        const line = JSON.parse(text) as Line;
        lines.push(line);
        if (until?.(line)) child.kill("SIGKILL");
      } catch {
        // not a log line
      }
    }
  });
  return new Promise<{ code: number | null; lines: Line[]; stderr: string }>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, lines, stderr });
    });
  });
}

describe("node start-up (real process, real encoder probe)", () => {
  it("ENCODER=nvenc without NVENC refuses to start, with the cause and the fix", async () => {
    const { code, lines, stderr } = await startNode({ ENCODER: "nvenc" });
    expect(code).toBe(1);
    const refused = lines.find((l) => l.msg === "encoder unavailable");
    expect(refused).toMatchObject({ level: "error", kind: "no_driver" });
    expect(String(refused?.error)).toContain("libcuda.so.1");
    expect(String(refused?.hint)).toMatch(/NVIDIA container runtime|--gpus/);
    expect(stderr).toContain("ENCODER=nvenc but NVENC does not work here (no_driver");
    expect(lines.some((l) => l.msg === "ready")).toBe(false);
  }, 40_000);

  it("ENCODER=auto falls back to libx264 and says why in one line", async () => {
    const { lines } = await startNode({ ENCODER: "auto" }, (l) => l.msg === "encoder selected");
    const selected = lines.find((l) => l.msg === "encoder selected");
    expect(selected).toMatchObject({ encoder: "x264", want: "auto", nvencFailure: "no_driver" });
    expect(String(selected?.line)).toMatch(
      /^encoder: libx264 \(ENCODER=auto; NVENC unavailable, no_driver: /,
    );
  }, 40_000);

  it("ENCODER=x264 never touches the GPU", async () => {
    const { lines } = await startNode({ ENCODER: "x264" }, (l) => l.msg === "encoder selected");
    expect(lines.find((l) => l.msg === "encoder selected")).toMatchObject({
      encoder: "x264",
      want: "x264",
      line: "encoder: libx264 (ENCODER=x264; NVENC not probed)",
    });
  }, 40_000);
});
