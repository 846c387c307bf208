import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import {
  commandLineOf,
  execTool,
  FfmpegDeadlineError,
  FfmpegError,
  FfmpegStalledError,
  mediaDeadlineMs,
  parseStats,
  parseTimemark,
  progressPercent,
  runFfmpeg,
  spawnCommand,
  toolRunError,
} from "../src/media/run-ffmpeg.ts";

const run = promisify(execFile);

describe("progress", () => {
  it.each([
    ["frame=  120 fps= 60 q=28.0 size=     512kB time=00:00:04.00 bitrate=1048.6kbits/s speed=2x", 4],
    ["size=N/A time=01:02:03.50 bitrate=N/A speed=1x", 3723.5],
    ["frame=    0 fps=0.0 q=0.0 size=       0kB time=-00:00:00.02 bitrate=N/A", 0],
    ["frame=    0 fps=0.0 q=0.0 size=       0kB time=N/A bitrate=N/A", null],
  ])("parseTimemark(%s) = %s", (line, seconds) => {
    expect(parseTimemark(line)).toBe(seconds);
  });

  it.each([
    [
      "frame=  240 fps= 61 q=28.0 q=27.0 size=N/A time=00:00:08.00 bitrate=N/A speed=2.05x",
      { seconds: 8, fps: 61, speed: 2.05 },
    ],
    [
      "frame=   12 fps=0.0 q=0.0 size=0kB time=00:00:00.40 bitrate=0.0kbits/s speed=N/A",
      { seconds: 0.4, fps: 0, speed: null },
    ],
    ["frame=    0 fps=0.0 q=0.0 size=       0kB time=N/A bitrate=N/A", null],
  ])("parseStats(%s)", (line, stats) => {
    expect(parseStats(line)).toEqual(stats);
  });

  it.each([
    [5, 10, 50],
    [10.04, 10, 100],
    [-1, 10, 0],
    [3, 0, 0],
  ])("progressPercent(%s, %s) = %s", (processed, duration, percent) => {
    expect(progressPercent(processed, duration)).toBe(percent);
  });
});

describe("runFfmpeg", () => {
  it("rejects with the command line and the stderr tail", async () => {
    const err = await runFfmpeg(["-hide_banner", "-i", "/nonexistent/in put.mp4", "-f", "null", "-"]).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FfmpegError);
    const e = err as FfmpegError;
    expect(e.message).toMatch(/exited with code 1/);
    expect(e.commandLine).toBe("ffmpeg -hide_banner -i '/nonexistent/in put.mp4' -f null -");
    expect(e.stderrTail.at(-1)).toContain("No such file or directory");
    expect(e.stderrTail.length).toBeLessThanOrEqual(30);
  });

  it("passes an option value with a space in it as one argument", async () => {
    const out = join(tmpdir(), `streamlet-space-${randomUUID()}.mp4`);
    await runFfmpeg([
      ...["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=10", "-t", "0.2"],
      ...["-metadata", "title=hello world", "-c:v", "libx264", "-preset", "ultrafast", out],
    ]);
    const { stdout } = await run("ffprobe", [
      "-v",
      "error",
      "-show_entries",
      "format_tags=title",
      "-of",
      "csv=p=0",
      out,
    ]);
    await rm(out, { force: true });
    expect(stdout.trim()).toBe("hello world");
  });

  it("kills ffmpeg when the signal aborts", async () => {
    const marker = join(tmpdir(), `streamlet-abort-${randomUUID()}.nut`);
    const controller = new AbortController();
    const pending = runFfmpeg(
      [
        "-nostdin",
        "-re",
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30",
        "-t",
        "60",
        "-f",
        "nut",
        marker,
      ],
      { signal: controller.signal },
    );
    await new Promise((resolve) => setTimeout(resolve, 800));
    const before = await run("pgrep", ["-f", marker]).then(
      (r) => r.stdout.trim(),
      () => "",
    );
    expect(before).not.toBe(""); // it was running
    controller.abort(new Error("job cancelled"));
    await expect(pending).rejects.toThrow("job cancelled");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await run("pgrep", ["-f", marker]).then(
      (r) => r.stdout.trim(),
      () => "",
    );
    expect(after).toBe("");
  });

  it("kills ffmpeg that prints nothing for stallTimeoutMs (a wedged read) and fails with a clear error", async () => {
    // A FIFO nobody writes to: ffmpeg blocks opening its input and prints nothing, like a hung encode.
    const fifo = join(tmpdir(), `streamlet-stall-${randomUUID()}`);
    await run("mkfifo", [fifo]);
    try {
      const started = Date.now();
      const err = await runFfmpeg(["-nostdin", "-i", fifo, "-f", "null", "-"], { stallTimeoutMs: 800 }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FfmpegStalledError);
      expect((err as Error).message).toMatch(/printed nothing for 1 s/);
      expect(Date.now() - started).toBeLessThan(5000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const left = await run("pgrep", ["-f", fifo]).then(
        (r) => r.stdout.trim(),
        () => "",
      );
      expect(left).toBe("");
    } finally {
      await rm(fifo, { force: true });
    }
  });

  it("frees the job even when the killed process never lets go (a process stuck in a hung driver)", async () => {
    // Stand-in for an ffmpeg stuck in the kernel, which SIGKILL cannot end: a shell whose background
    // child keeps its stderr open, so the killed shell's pipes never close. Not the real ffmpeg because
    // the real one cannot be wedged on purpose here.
    const marker = `streamlet-wedged-${randomUUID()}`;
    const started = Date.now();
    const err = await runFfmpeg(["-c", `sleep 9 # ${marker}\n`, "-i", "in", "out"], {
      ffmpegPath: "/bin/sh",
      stallTimeoutMs: 500,
    }).catch((e: unknown) => e);
    const waited = Date.now() - started;
    await run("pkill", ["-f", marker]).catch(() => undefined);
    expect(err).toBeInstanceOf(FfmpegStalledError);
    expect(waited).toBeLessThan(8000);
  }, 15_000);

  it("kills an ffmpeg that keeps printing past its wall-clock deadline", async () => {
    // Stand-in for an encode that makes progress forever (a timeline asking for hours of frames): it
    // prints every 50 ms, so only the deadline, not the silence watchdog, can stop it.
    const started = Date.now();
    const script = "while :; do echo 'frame=1 time=00:00:01.00 speed=1x' >&2; sleep 0.05; done";
    const err = await runFfmpeg(["-c", script, "-i", "in", "out"], {
      ffmpegPath: "/bin/sh",
      stallTimeoutMs: 5000,
      timeoutMs: 600,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfmpegDeadlineError);
    expect((err as FfmpegDeadlineError).message).toBe("ffmpeg ran longer than its 1 s limit and was stopped");
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it("children get a minimal environment: no storage keys, Redis URL or shared secret", async () => {
    const secrets = {
      S3_SECRET_ACCESS_KEY: "s3-secret-value",
      S3_ACCESS_KEY_ID: "s3-key-id",
      REDIS_URL: "redis://:pw@redis:6379",
      TRANSCODER_SECRET: "transcoder-secret-value",
      SOMETHING_ELSE: "operator-added",
      NVIDIA_DRIVER_CAPABILITIES: "compute,video,utility",
      CUDA_VISIBLE_DEVICES: "0",
    };
    const saved = Object.fromEntries(Object.keys(secrets).map((k) => [k, process.env[k]]));
    Object.assign(process.env, secrets);
    try {
      // /bin/sh stands in for ffmpeg and prints the environment it was given.
      const viaExec = await execTool("/bin/sh", ["-c", "env"]);
      const viaRun = await runFfmpeg(["-c", "env >&2; exit 3", "-i", "in", "out"], {
        ffmpegPath: "/bin/sh",
      }).catch((e: FfmpegError) => e.stderrTail.join("\n"));
      for (const env of [viaExec.stdout, String(viaRun)]) {
        expect(env).toMatch(/^PATH=/m);
        expect(env).toMatch(/^NVIDIA_DRIVER_CAPABILITIES=compute,video,utility$/m);
        expect(env).toMatch(/^CUDA_VISIBLE_DEVICES=0$/m);
        for (const name of [
          "S3_SECRET_ACCESS_KEY",
          "S3_ACCESS_KEY_ID",
          "REDIS_URL",
          "TRANSCODER_SECRET",
          "SOMETHING_ELSE",
        ]) {
          expect(env).not.toContain(name);
        }
        expect(env).not.toMatch(/secret-value|s3-key-id|pw@redis/);
      }
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("a memory ceiling applies to the child's address space", async () => {
    const limited = await execTool("/bin/sh", ["-c", "ulimit -v"], { memoryLimitBytes: 512 * 1024 * 1024 });
    expect(limited.stdout.trim()).toBe(String(512 * 1024));
    expect(spawnCommand("ffmpeg", ["-i", "x"])).toEqual({ command: "ffmpeg", args: ["-i", "x"] });
    // A real ffmpeg whose frame does not fit fails to allocate it instead of growing (an 8000x8000
    // frame is ~100 MB a copy); the same run with room to spare does not.
    const frame = ["-v", "error", "-nostdin", "-f", "lavfi", "-i", "color=s=8000x8000", "-frames:v", "1"];
    const tight = await execTool("ffmpeg", [...frame, "-f", "null", "-"], {
      memoryLimitBytes: 400 * 1024 * 1024,
    });
    expect(tight.stderr).toMatch(/Cannot allocate memory/);
    const roomy = await execTool("ffmpeg", [...frame, "-f", "null", "-"], {
      memoryLimitBytes: 4096 * 1024 * 1024,
    });
    expect(roomy.stderr).not.toMatch(/Cannot allocate memory/);
    expect(roomy.code).toBe(0);
  });

  it("a niceness lowers the child's CPU priority, every thread of it, with or without a memory ceiling", async () => {
    expect(spawnCommand("ffmpeg", ["-i", "x"], { niceness: 10 })).toEqual({
      command: "nice",
      args: ["-n", "10", "--", "ffmpeg", "-i", "x"],
    });
    // nice with no operand prints the niceness it runs at; what the child starts later inherits it.
    const nice = await execTool("/bin/sh", ["-c", "nice; (nice) & wait"], { niceness: 10 });
    expect(nice.stdout.trim().split("\n")).toEqual(["10", "10"]);
    const both = await execTool("/bin/sh", ["-c", "nice; ulimit -v"], {
      niceness: 7,
      memoryLimitBytes: 512 * 1024 * 1024,
    });
    expect(both.stdout.trim().split("\n")).toEqual(["7", String(512 * 1024)]);
    expect((await execTool("/bin/sh", ["-c", "nice"], { niceness: 0 })).stdout.trim()).toBe("0");
    expect(() => spawnCommand("ffmpeg", [], { niceness: 20 })).toThrow(/1 to 19/);
    expect(() => spawnCommand("ffmpeg", [], { niceness: -5 })).toThrow(/1 to 19/);
  });

  it("a failed run over a presigned URL carries its command line without the signature", async () => {
    const url = "http://127.0.0.1:9/bucket/source?X-Amz-Expires=60&X-Amz-Signature=0123abcd&X-Amz-Date=1";
    expect(commandLineOf("ffprobe", ["-i", url])).toBe(
      "ffprobe -i 'http://127.0.0.1:9/bucket/source?X-Amz-Expires=60&X-Amz-Signature=REDACTED&X-Amz-Date=1'",
    );
    const failed = await runFfmpeg(["-v", "error", "-i", url, "-f", "null", "-"]).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(FfmpegError);
    expect((failed as FfmpegError).commandLine).toContain("X-Amz-Signature=REDACTED");
    expect((failed as FfmpegError).commandLine).not.toContain("0123abcd");
  });

  it("the deadline scales with the media's duration, with a floor", () => {
    expect(mediaDeadlineMs(3600, 20, 600_000)).toBe(72_000_000);
    expect(mediaDeadlineMs(2, 20, 600_000)).toBe(600_000);
    expect(mediaDeadlineMs(Number.NaN, 20, 600_000)).toBe(600_000);
  });

  it("says which signal killed ffmpeg when something else killed it (the OOM killer)", async () => {
    const marker = `streamlet-oom-${randomUUID()}`;
    const args = [
      "-nostdin",
      "-re",
      "-f",
      "lavfi",
      "-i",
      "testsrc2",
      "-metadata",
      `title=${marker}`,
      "-f",
      "null",
      "-",
    ];
    const pending = runFfmpeg(args).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 500));
    await run("pkill", ["-KILL", "-f", marker]);
    const err = await pending;
    expect(err).toBeInstanceOf(FfmpegError);
    expect((err as Error).message).toMatch(/^ffmpeg was killed by SIGKILL/);
  });

  it("refuses argv without an input", async () => {
    await expect(runFfmpeg(["-f", "null", "-"])).rejects.toThrow(/need -i/);
  });

  it("an already-aborted signal never starts ffmpeg", async () => {
    await expect(
      runFfmpeg(["-f", "lavfi", "-i", "testsrc2", "-f", "null", "-"], {
        signal: AbortSignal.abort(new Error("early")),
      }),
    ).rejects.toThrow("early");
  });
});

describe("execTool (short runs: ffprobe, the encoder probe, -version)", () => {
  it("hands back stdout, stderr and a non-zero exit as data", async () => {
    const ok = await execTool("ffprobe", ["-hide_banner", "-version"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ffprobe version/);
    const bad = await execTool("ffprobe", ["-v", "error", "/nonexistent/in put.mp4"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("No such file or directory");
    expect(bad.commandLine).toBe("ffprobe -v error '/nonexistent/in put.mp4'");
    const err = toolRunError("ffprobe", bad);
    expect(err).toBeInstanceOf(FfmpegError);
    expect(err.message).toMatch(/^ffprobe exited with code 1: .*No such file or directory/);
    expect(err.commandLine).toBe(bad.commandLine);
    expect(err.stderrTail.at(-1)).toContain("No such file or directory");
  });

  it("kills a run past its timeout and resolves with code null", async () => {
    const started = Date.now();
    const run = await execTool(
      "ffmpeg",
      ["-nostdin", "-re", "-f", "lavfi", "-i", "testsrc2", "-f", "null", "-"],
      {
        timeoutMs: 500,
      },
    );
    expect(run.code).toBeNull();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(toolRunError("ffmpeg", run, 500).message).toBe("ffmpeg did not finish within 500 ms");
  });

  it("rejects with the command line when the binary cannot start, and with the reason on abort", async () => {
    const err = await execTool("/nonexistent/ffmpeg", ["-version"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfmpegError);
    expect((err as FfmpegError).message).toMatch(/ENOENT/);
    expect((err as FfmpegError).commandLine).toBe("/nonexistent/ffmpeg -version");
    const controller = new AbortController();
    const pending = execTool(
      "ffmpeg",
      ["-nostdin", "-re", "-f", "lavfi", "-i", "testsrc2", "-f", "null", "-"],
      {
        signal: controller.signal,
      },
    );
    setTimeout(() => controller.abort(new Error("stop now")), 200);
    await expect(pending).rejects.toThrow("stop now");
  });
});
