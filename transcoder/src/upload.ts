import { readdir } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { contentTypeFor } from "@streamlet/shared";
import type { Storage } from "./storage.ts";

/** Runs `fn` over items with at most `limit` in flight. */
async function eachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (!failed && next < items.length) {
      try {
        await fn(items[next++] as T);
      } catch (err) {
        failed = true; // stop starting new uploads; the job will be retried as a whole
        throw err;
      }
    }
  });
  // Every worker settles before this returns (even after a failure), so nothing is still uploading
  // when the caller cleans up (a cancelled job removes its output right after).
  const results = await Promise.allSettled(workers);
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (rejected) throw rejected.reason;
}

/** Lists the files under `dir`, sorted, as absolute paths. */
async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/**
 * Uploads every file under `dir` to `prefix` + its relative path; returns how many were uploaded.
 * `onFile` hears the count before the first file (0) and after each one, with the total, for progress.
 */
export async function uploadFolder(
  storage: Storage,
  dir: string,
  prefix: string,
  signal?: AbortSignal,
  onFile?: (done: number, total: number) => void,
): Promise<number> {
  const files = await listFiles(dir);
  let done = 0;
  onFile?.(0, files.length);
  await eachLimit(files, 4, async (file) => {
    const key = prefix + relative(dir, file).split(sep).join("/");
    await storage.putFile(key, file, contentTypeFor(file), signal);
    done += 1;
    onFile?.(done, files.length);
  });
  return files.length;
}
