import { randomBytes } from "node:crypto";
import { mkdir, readdir, rename, rm, stat, utimes } from "node:fs/promises";
import { join } from "node:path";
import { canonicalId, sourceKey } from "@streamlet/shared";
import { errorFields, type Logger } from "../log.ts";
import type { DownloadProgress, Storage } from "../storage.ts";

/** A cached source unused this long is deleted by the sweep. */
export const SOURCE_IDLE_MS = 10 * 60 * 1000;
/** Downloads end in this until complete, then are renamed: a file without it is always whole. */
const PARTIAL = ".part";

/** A held source: the file stays while held; release it when done (idempotent). */
export interface SourceLease {
  path: string;
  release(): void;
}

export interface SourceCache {
  /**
   * The video's source on this node, downloaded at most once however many jobs ask at the same time.
   * A caller's abort stops only its own wait; the download itself stops once every waiter has aborted.
   */
  acquire(videoId: string, signal?: AbortSignal, onProgress?: DownloadProgress): Promise<SourceLease>;
  /**
   * Deletes the video's source from this node now, or when its last holder releases it: a video that
   * was deleted or failed for good has no more chunks coming, so its copy need not wait for the sweep.
   */
  discard(videoId: string): Promise<void>;
  /** Deletes sources unused for idleMs (and stray partial downloads); returns how many files went. */
  sweep(): Promise<number>;
  /** Stops the sweep timer (held files stay). */
  close(): void;
}

export interface SourceCacheOptions {
  storage: Pick<Storage, "download">;
  /** Sources live in <workDir>/sources/<videoId>. */
  workDir: string;
  log: Logger;
  idleMs?: number;
  /** How often the sweep runs; 0: never by itself (tests call sweep()). */
  sweepEveryMs?: number;
}

/** A source in use on this node; it exists from the first acquire to the last release. */
interface Entry {
  /** Resolves once the file is complete at `path`; rejects (and the entry goes) when the download fails. */
  ready: Promise<void>;
  /** Callers that acquired it (waiting or holding) and have not released it. */
  holders: number;
  /** Waiters still waiting for the download; when all have aborted, the download is aborted. */
  waiting: number;
  controller: AbortController;
  /** Delete the file when the last holder lets go (discard() while it was held). */
  discard?: boolean;
}

/** Rejects with the signal's reason as soon as it aborts; otherwise settles like `p`. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/**
 * The node-local cache of sources shared by the coordinator and the chunk jobs running on this node.
 * A download goes to a temp name and is renamed when complete, so a failed or partial download never
 * becomes a hit; a file found on disk (this or an earlier process) is whole. Held files are touched
 * at every sweep so another process sharing WORK_DIR sees them in use.
 */
export function createSourceCache(options: SourceCacheOptions): SourceCache {
  const dir = join(options.workDir, "sources");
  const idleMs = options.idleMs ?? SOURCE_IDLE_MS;
  const entries = new Map<string, Entry>();
  const log = options.log;
  const pathOf = (videoId: string) => join(dir, videoId);

  const touch = (path: string) => {
    const now = new Date();
    return utimes(path, now, now).catch(() => undefined);
  };

  const load = async (
    videoId: string,
    controller: AbortController,
    onProgress?: DownloadProgress,
  ): Promise<void> => {
    const path = pathOf(videoId);
    await mkdir(dir, { recursive: true });
    const found = await stat(path).catch(() => null);
    if (found?.isFile()) {
      await touch(path);
      return;
    }
    const partial = `${path}.${randomBytes(6).toString("hex")}${PARTIAL}`;
    try {
      const bytes = await options.storage.download(
        sourceKey(videoId),
        partial,
        controller.signal,
        onProgress,
      );
      await rename(partial, path);
      log.info("source downloaded to the node cache", { videoId, bytes });
    } finally {
      await rm(partial, { force: true });
    }
  };

  /** A holder is done: the entry goes with its last holder (the file stays on disk, a later hit). */
  const drop = (videoId: string, entry: Entry) => {
    entry.holders -= 1;
    if (entry.holders > 0 || entries.get(videoId) !== entry) return;
    entries.delete(videoId);
    if (entry.discard) void remove(videoId);
  };

  const remove = async (videoId: string) => {
    await rm(pathOf(videoId), { force: true });
    log.info("source removed from the node cache", { videoId });
  };

  const release = (videoId: string, entry: Entry) => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      drop(videoId, entry);
      void touch(pathOf(videoId));
    };
  };

  const cache: SourceCache = {
    async acquire(rawId, signal, onProgress) {
      signal?.throwIfAborted();
      const videoId = canonicalId(rawId);
      if (videoId === null) throw new Error(`not a video id: ${rawId}`);
      let entry = entries.get(videoId);
      if (!entry) {
        const controller = new AbortController();
        const created: Entry = { ready: Promise.resolve(), holders: 0, waiting: 0, controller };
        // Progress goes to the caller that started the download (the coordinator, on its node).
        created.ready = load(videoId, controller, onProgress).catch((err: unknown) => {
          // A failed download is never a hit: the next caller starts afresh.
          if (entries.get(videoId) === created) entries.delete(videoId);
          throw err;
        });
        created.ready.catch(() => undefined); // every waiter sees it; none may leave it unhandled
        entries.set(videoId, created);
        entry = created;
      }
      const current = entry;
      current.holders += 1;
      current.waiting += 1;
      let waited = false;
      const stopWaiting = () => {
        if (waited) return;
        waited = true;
        current.waiting -= 1;
      };
      const onAbort = () => {
        stopWaiting();
        // Nobody wants it any more: stop the download (it is not cached, the next caller starts again).
        if (current.waiting > 0) return;
        if (entries.get(videoId) === current) entries.delete(videoId); // a later caller starts afresh
        current.controller.abort(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        await raceAbort(current.ready, signal);
      } catch (err) {
        drop(videoId, current);
        throw err;
      } finally {
        stopWaiting();
        signal?.removeEventListener("abort", onAbort);
      }
      return { path: pathOf(videoId), release: release(videoId, current) };
    },

    async discard(rawId) {
      const videoId = canonicalId(rawId);
      if (videoId === null) return;
      const entry = entries.get(videoId);
      if (entry) entry.discard = true;
      else await remove(videoId);
    },

    async sweep() {
      let removed = 0;
      const names = await readdir(dir).catch(() => [] as string[]);
      const now = Date.now();
      for (const name of names) {
        const path = join(dir, name);
        // Held (or being downloaded, its partial included): in use, keep it and say so.
        const held = entries.get(name.split(".")[0] ?? name);
        if (held) {
          await touch(path);
          continue;
        }
        const info = await stat(path).catch(() => null);
        if (!info || now - info.mtimeMs < idleMs) continue;
        // A partial left by a dead process, or a source nobody used for a while.
        await rm(path, { force: true, recursive: true });
        removed += 1;
      }
      if (removed > 0) log.info("swept idle sources from the node cache", { removed });
      return removed;
    },

    close() {
      clearInterval(timer);
    },
  };

  const every = options.sweepEveryMs ?? 60_000;
  const timer =
    every > 0
      ? setInterval(() => {
          cache.sweep().catch((err: unknown) => log.warn("source cache sweep failed", errorFields(err)));
        }, every)
      : undefined;
  timer?.unref();
  return cache;
}
