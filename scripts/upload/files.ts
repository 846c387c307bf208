import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "../stack/services.ts";

/** Where saved logins and unfinished uploads are kept: STREAMLET_CONFIG_DIR, else $XDG_CONFIG_HOME/streamlet. */
export function configDir(env: NodeJS.ProcessEnv): string {
  if (env.STREAMLET_CONFIG_DIR) return path.resolve(env.STREAMLET_CONFIG_DIR);
  return path.join(env.XDG_CONFIG_HOME || path.join(os.homedir(), ".config"), "streamlet");
}

/** The local stack's data folder, as `npm run dev` picks it (STREAMLET_DATA_DIR, else .data/). */
export function stackDataDir(env: NodeJS.ProcessEnv): string {
  return env.STREAMLET_DATA_DIR ? path.resolve(env.STREAMLET_DATA_DIR) : path.join(ROOT, ".data");
}

/** A loopback edge is the local development stack: the only place the CLI may make up an account. */
export function isLoopback(edge: string): boolean {
  const host = new URL(edge).hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** A file name for an edge's host (port included), safe on any file system. */
export function hostFileName(edge: string): string {
  return new URL(edge).host.replace(/[^\w.-]/g, "_");
}

/** The JSON in `file`, or null when it is missing or unreadable. */
export function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
}

/** Writes JSON readable by the user only (mode 0600), whole or not at all (a kill mid-write leaves the old one). */
export function writePrivateJson(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, file);
}

export function removeFile(file: string): void {
  rmSync(file, { force: true });
}
