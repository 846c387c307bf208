import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { TRANSCODE_QUEUE } from "@streamlet/shared";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { createLogger, errorFields } from "./log.ts";
import { createWorker } from "./worker.ts";

const run = promisify(execFile);
const log = createLogger({ service: "transcoder" });

/** Fails start-up when ffmpeg/ffprobe are missing or lack libx264, instead of failing every job later. */
async function checkTools(config: Config): Promise<void> {
  const version = (path: string, name: string) =>
    run(path, ["-hide_banner", "-version"]).catch((err: Error) => {
      throw new Error(`${name} not runnable at "${path}" (set ${name.toUpperCase()}_PATH): ${err.message}`);
    });
  await version(config.ffprobePath, "ffprobe");
  await version(config.ffmpegPath, "ffmpeg");
  const { stdout } = await run(config.ffmpegPath, ["-hide_banner", "-encoders"]);
  if (!/\blibx264\b/.test(stdout)) throw new Error(`${config.ffmpegPath} has no libx264 encoder`);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      log.error("invalid configuration", { error: err.message });
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  await checkTools(config);

  const worker = createWorker(config, { log });
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) {
      log.warn("second signal, exiting without waiting for the current job", { signal });
      process.exit(1);
    }
    closing = true;
    log.info("shutting down: finishing the current job, taking no new ones", { signal });
    await worker.close();
    log.info("stopped");
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));

  await worker.waitUntilReady();
  log.info("ready", {
    queue: TRANSCODE_QUEUE,
    concurrency: config.concurrency,
    encoder: config.encoder,
    preset: config.x264Preset,
    workDir: config.workDir,
  });
}

// A stray rejection is a bug to log, not a reason to drop the jobs in flight.
process.on("unhandledRejection", (err) => log.error("unhandled rejection", errorFields(err)));

main().catch((err) => {
  log.error("fatal", errorFields(err));
  process.exit(1);
});
