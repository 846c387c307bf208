/**
 * `npm run upload`, the real command as a child process against the test stack (its edge is on 127.0.0.1,
 * so it counts as a local development stack): a multipart upload to ready, an upload killed half-way and
 * resumed without sending stored parts again, and the local development account it makes and reuses.
 * The stack runs with MULTIPART_THRESHOLD_BYTES=6MiB and UPLOAD_PART_BYTES=5MiB: ~12 MiB go in 3 parts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { apiClient } from "../../stack/client.ts";
import { makeClip } from "../../stack/clip.ts";
import { noise } from "../../stack/noise.ts";
import { run } from "../../stack/proc.ts";
import { ROOT } from "../../stack/services.ts";

const MIB = 1024 * 1024;
const edge = inject("edgeUrl");
let dir: string;
/** A real video of about 12 MiB (lossless noise): three parts of 5, 5 and the rest. */
let bigClip: string;
let smallClip: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-upload-cli-"));
  bigClip = path.join(dir, "noise.mp4");
  await run("ffmpeg", [
    ...["-v", "error", "-y", "-f", "lavfi"],
    ...["-i", "nullsrc=s=640x360:r=15,geq=lum='random(1)*255':cb=128:cr=128"],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2.6"],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    ...["-movflags", "+faststart", bigClip],
  ]);
  expect(statSync(bigClip).size, "the clip must need three parts").toBeGreaterThan(10 * MIB);
  smallClip = await makeClip(path.join(dir, "small.mp4"), { seconds: 2, width: 320, height: 240 });
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(cleanups.map((cleanup) => cleanup()));
  rmSync(dir, { recursive: true, force: true });
});

interface Cli {
  child: ChildProcess;
  stderr: string[];
  done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>;
}

/** Starts the CLI with a clean environment: the test edge, its own config and data folders, `env` on top. */
function cli(args: string[], env: Record<string, string>, onLine?: (line: string, c: Cli) => void): Cli {
  const base = { ...process.env };
  delete base.STREAMLET_EMAIL;
  delete base.STREAMLET_PASSWORD;
  delete base.INIT_CWD;
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/upload.ts", ...args], {
    cwd: ROOT,
    env: { ...base, STREAMLET_EDGE_URL: edge, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const c: Cli = { child, stderr: [], done: undefined as unknown as Cli["done"] };
  let stdout = "";
  let partial = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      c.stderr.push(line);
      onLine?.(line, c);
    }
  });
  c.done = new Promise((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr: c.stderr.join("\n") })),
  );
  return c;
}

/** The last stdout line of a --json run, parsed. */
function summary(stdout: string) {
  const last = stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(last) as {
    videoId: string;
    status: string;
    url: string;
    hls: string | null;
    sentBytes: number;
    resumed: boolean;
  };
}

/** A fresh account (with a config and data folder of its own) whose email and password the CLI is given. */
async function account(label: string) {
  const email = `${label}-${crypto.randomUUID().slice(0, 8)}@example.com`;
  const password = "a long enough password";
  const client = apiClient(edge);
  await client.signup(email, password);
  const folder = mkdtempSync(path.join(dir, `${label}-`));
  const env = {
    STREAMLET_EMAIL: email,
    STREAMLET_PASSWORD: password,
    STREAMLET_CONFIG_DIR: path.join(folder, "config"),
    STREAMLET_DATA_DIR: path.join(folder, "data"),
  };
  return { client, env };
}

const modeOf = (file: string) => statSync(file).mode & 0o777;

describe("npm run upload", () => {
  it("uploads a multi-part clip with STREAMLET_EMAIL/PASSWORD, follows it to ready and prints the HLS URL", async () => {
    const { client, env } = await account("cli-upload");
    const size = statSync(bigClip).size;

    const plain = await cli([bigClip, "--title", "noise from the CLI", "--private"], env).done;
    expect(plain.code, plain.stderr).toBe(0);
    const hls = /^hls\s+(\S+)$/m.exec(plain.stdout)?.[1];
    expect(hls, plain.stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/play\/.+master\.m3u8/);
    const id = /\/v1\/videos\/(\S+)\s+\(ready\)/.exec(plain.stdout)?.[1] as string;
    expect(plain.stderr).toMatch(/uploaded (\d+\.\d)\/\1 MiB .*part 3\/3/);

    const video = await client.getVideo(id);
    expect(video).toMatchObject({ status: "ready", title: "noise from the CLI", visibility: "private" });
    expect((await fetch(hls as string)).status).toBe(200);

    // The sign-in was saved (0600) for runs without the variables; nothing is left to resume.
    const saved = path.join(env.STREAMLET_CONFIG_DIR, `${new URL(edge).host.replace(":", "_")}.json`);
    expect(modeOf(saved)).toBe(0o600);
    expect(readdirSync(path.join(env.STREAMLET_CONFIG_DIR, "uploads"))).toEqual([]);

    // Again with --json, signed in from the saved login only: one JSON line, every byte sent once.
    const { STREAMLET_EMAIL: _e, STREAMLET_PASSWORD: _p, ...savedOnly } = env;
    const json = await cli([bigClip, "--json", "--concurrency", "2"], savedOnly).done;
    expect(json.code, json.stderr).toBe(0);
    expect(json.stderr).toContain("the login saved in");
    const result = summary(json.stdout);
    expect(result).toMatchObject({ status: "ready", sentBytes: size, resumed: false });
    expect(result.hls).toMatch(/master\.m3u8/);
    expect(result.videoId).not.toBe(id);
  });

  it("resumes an upload killed half-way: the same video, parts already stored are not sent again", async () => {
    const { client, env } = await account("cli-resume");
    const size = statSync(bigClip).size;

    let id = "";
    const first = cli([bigClip, "--json", "--concurrency", "1"], env, (line, c) => {
      id ||= /^video (\S+) created/.exec(line)?.[1] ?? "";
      if (/part [1-9]\/3/.test(line)) c.child.kill("SIGKILL");
    });
    const killed = await first.done;
    expect(killed.signal, killed.stderr).toBe("SIGKILL");
    expect(id).not.toBe("");

    const state = await client.api.GET("/v1/videos/{id}/upload", { params: { path: { id } } });
    const stored = state.data?.uploadedBytes ?? 0;
    expect(stored, JSON.stringify(state.data)).toBeGreaterThan(0);

    const second = await cli([bigClip, "--json"], env).done;
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`resuming the upload of video ${id}`);
    const result = summary(second.stdout);
    expect(result).toMatchObject({ videoId: id, status: "ready", resumed: true });
    expect(result.sentBytes).toBeLessThanOrEqual(size - stored);
    expect((await client.getVideo(id)).status).toBe("ready");
    expect(readdirSync(path.join(env.STREAMLET_CONFIG_DIR, "uploads"))).toEqual([]);
  });

  it("killed while it follows the transcode, the same command follows that video again", async () => {
    const { env } = await account("cli-follow");
    const first = cli([smallClip], env, (line, c) => {
      if (line.startsWith("upload confirmed")) c.child.kill("SIGKILL");
    });
    expect((await first.done).signal).toBe("SIGKILL");
    const id = /^video (\S+) created/m.exec(first.stderr.join("\n"))?.[1] as string;

    const second = await cli([smallClip, "--json"], env).done;
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(
      new RegExp(`video ${id} of an earlier run is (queued|processing|ready): following it`),
    );
    expect(summary(second.stdout)).toMatchObject({
      videoId: id,
      status: "ready",
      sentBytes: 0,
      resumed: true,
    });
  });

  it("imports a URL argument (source.url) and follows the import to ready", async () => {
    const { env } = await account("cli-import");
    // The stack's transcoder may fetch from 127.0.0.1 (IMPORT_ALLOWED_ADDRESSES in the global setup).
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "video/mp4", "content-length": statSync(smallClip).size });
      createReadStream(smallClip).pipe(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/clips/small.mp4`;

    const result = await cli([url, "--json"], env).done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`importing ${url}`);
    expect(summary(result.stdout)).toMatchObject({ status: "ready", sentBytes: 0, resumed: false });
  });

  it("exits 1 with the reason when the transcode fails", async () => {
    const { env } = await account("cli-fail");
    const garbage = path.join(dir, "garbage.mp4");
    writeFileSync(garbage, noise(200_000));
    const result = await cli([garbage], env).done;
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/^failed: .+/m);
    expect(result.stdout).toMatch(/\(failed: .+\)/);
  });

  it("on a loopback edge with no settings, creates a local development account once and reuses it", async () => {
    const folder = mkdtempSync(path.join(dir, "dev-account-"));
    const env = {
      STREAMLET_CONFIG_DIR: path.join(folder, "config"),
      STREAMLET_DATA_DIR: path.join(folder, "data"),
    };
    const accountFile = path.join(env.STREAMLET_DATA_DIR, "cli-account.json");

    const first = await cli([smallClip, "--private", "--no-wait", "--json"], env).done;
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain("a new local development account");
    expect(modeOf(accountFile)).toBe(0o600);
    const saved = JSON.parse(readFileSync(accountFile, "utf8")) as { email: string; password: string };

    const second = await cli([smallClip, "--private", "--no-wait", "--json"], env).done;
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`as ${saved.email} (the local development account`);
    expect(JSON.parse(readFileSync(accountFile, "utf8"))).toEqual(saved);

    // Both private videos belong to that account: only its owner can read them.
    const owner = apiClient(edge);
    await owner.login(saved.email, saved.password);
    for (const run of [first, second]) {
      const { videoId, status } = summary(run.stdout);
      expect(status).toBe("queued");
      expect((await owner.getVideo(videoId)).visibility).toBe("private");
      cleanups.push(() => owner.api.DELETE("/v1/videos/{id}", { params: { path: { id: videoId } } }));
    }
  });

  it("never makes up an account on an edge that is not on loopback", async () => {
    const folder = mkdtempSync(path.join(dir, "remote-"));
    const env = {
      STREAMLET_CONFIG_DIR: path.join(folder, "config"),
      STREAMLET_DATA_DIR: path.join(folder, "data"),
    };
    const result = await cli([smallClip, "--edge", "http://streamlet.invalid"], env).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("not signed in to http://streamlet.invalid");
    expect(existsSync(path.join(env.STREAMLET_DATA_DIR, "cli-account.json"))).toBe(false);
  });
});
