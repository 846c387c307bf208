import { createHash } from "node:crypto";
import { statSync } from "node:fs";
import path from "node:path";
import { configDir, readJson, removeFile, writePrivateJson } from "./files.ts";

/** An unfinished upload (or import): the video the same command made before it was interrupted. */
export interface PendingUpload {
  videoId: string;
  edge: string;
  source: string;
  createdAt: string;
}

/**
 * The state file of one upload: named by a hash of the edge, the source (absolute path, size and mtime
 * for a file, so an edited file starts afresh; the URL for an import), under <config dir>/uploads/.
 */
export function pendingFile(edge: string, source: string, env: NodeJS.ProcessEnv): string {
  const identity = [edge, source];
  if (!/^https?:\/\//i.test(source)) {
    const stat = statSync(source);
    identity.push(String(stat.size), String(stat.mtimeMs));
  }
  const key = createHash("sha256").update(identity.join("\n")).digest("hex").slice(0, 32);
  return path.join(configDir(env), "uploads", `${key}.json`);
}

export function readPending(file: string): PendingUpload | null {
  const value = readJson(file) as PendingUpload | null;
  return typeof value?.videoId === "string" ? value : null;
}

export function savePending(file: string, pending: PendingUpload): void {
  writePrivateJson(file, pending);
}

export const forgetPending = removeFile;
