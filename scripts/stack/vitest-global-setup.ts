import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startFakeCloudflareApi } from "./fake-cloudflare-api.ts";
import { type Stack, startStack } from "./stack.ts";

declare module "vitest" {
  export interface ProvidedContext {
    edgeUrl: string;
    transcoderVars: Record<string, string>;
    edgeVars: Record<string, string>;
    /** GET it for the cache purge requests the edge sent to the (fake) Cloudflare API. */
    purgeRequestsUrl: string;
  }
}

let stack: Stack | undefined;
let cloudflare: Awaited<ReturnType<typeof startFakeCloudflareApi>> | undefined;
let dataDir = "";
const logs: string[] = [];

/**
 * Starts one real stack (Redis, Postgres + Neon bridge, s3rver, wrangler dev, one transcoder) on random
 * loopback ports in a throwaway folder for the integration tests, and tears it down afterwards.
 */
export async function setup(project: TestProject) {
  dataDir = mkdtempSync(path.join(os.tmpdir(), "streamlet-test-"));
  chmodSync(dataDir, 0o755); // the postgres system user must reach its data folder
  const verbose = process.env.STACK_LOGS === "1";
  const zone = {
    zoneId: "0123456789abcdef0123456789abcdef",
    token: `test-purge-token-${crypto.randomUUID()}`,
  };
  cloudflare = await startFakeCloudflareApi(zone);
  stack = await startStack({
    dataDir,
    ports: "random",
    transcoders: 1,
    transcoderEnv: {
      // URL imports from the tests' own servers on 127.0.0.1 (refused without this: loopback is private).
      IMPORT_ALLOWED_ADDRESSES: "127.0.0.1/32",
      // The suites test the pipeline around the encoder, not x264's compression: its fastest preset
      // (no B-frames, CAVLC) about halves every transcode and the checks and decodes that follow it on a
      // 2-core CI machine. The default preset is covered by the transcoder's own tests and the
      // lifecycle suite, which starts a stack of its own.
      X264_PRESET: "ultrafast",
    },
    // Services from the environment are used instead (e.g. a CI that provides its own Redis).
    env: {
      REDIS_URL: process.env.TEST_REDIS_URL,
      // The suites send their own CF-Connecting-IP per request, as Cloudflare would set it, so each
      // test's rate limits start fresh (edge/test/workers/auth.test.ts checks an edge that does not trust it).
      TRUST_CF_CONNECTING_IP: "true",
      // Short, so a test can wait out a data centre's cached playback state (hardening.test.ts).
      PLAYBACK_STATE_TTL_SECONDS: "2",
      // The suites sign up far more than 30 users from 127.0.0.1 (the stack's client sends no
      // CF-Connecting-IP); the limit itself is tested in the workers project (RATE_LIMIT_SIGNUP 10/1h).
      RATE_LIMIT_SIGNUP: "1000/1h",
      // Small parts, so multipart uploads are tested with files of a few MiB (uploads.test.ts).
      MULTIPART_THRESHOLD_BYTES: "6MiB",
      UPLOAD_PART_BYTES: "5MiB",
      MAX_SOURCE_BYTES: "1GiB",
      STORAGE_QUOTA_BYTES: "3GiB",
      CLOUDFLARE_ZONE_ID: zone.zoneId,
      CLOUDFLARE_PURGE_TOKEN: zone.token,
      CLOUDFLARE_API_BASE: cloudflare.apiBase,
    },
    log: (name) => (line) => {
      logs.push(`[${name}] ${line}`);
      if (logs.length > 500) logs.shift();
      if (verbose) process.stderr.write(`[${name}] ${line}\n`);
    },
  });
  project.provide("edgeUrl", stack.edgeUrl);
  project.provide("transcoderVars", stack.transcoderVars);
  project.provide("edgeVars", stack.edgeVars);
  project.provide("purgeRequestsUrl", cloudflare.requestsUrl);
}

export async function teardown() {
  await stack?.stop();
  await cloudflare?.close();
  if (process.env.STACK_LOGS_ON_EXIT === "1") process.stderr.write(`${logs.join("\n")}\n`);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
