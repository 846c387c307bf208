/**
 * Uploads a video's source straight to storage, as the edge's upload ticket says (browsers and Node alike):
 * one PUT for small files; for large ones, parts in parallel, each retried on its own, resumed from what
 * storage already holds (GET /v1/videos/:id/upload), part URLs asked for in batches as they are needed and
 * again when one has expired. The caller confirms with POST /v1/videos/:id/uploaded afterwards.
 *
 *   const { data } = await api.POST("/v1/videos", { body: { title, upload: { size: file.size } } });
 *   await uploadSource({ api, videoId: data.video.id, ticket: data.upload, file });
 *   await api.POST("/v1/videos/{id}/uploaded", { params: { path: { id } } });
 */

import { MAX_PART_URLS_PER_REQUEST, type UploadTicket } from "./api.ts";
import type { ApiClient } from "./api-client.ts";

/** What is uploaded: a Blob or File (Node: fs.openAsBlob), read part by part with slice(). */
export interface UploadBody {
  readonly size: number;
  slice(start: number, end: number): Blob;
}

export interface UploadProgress {
  /** Bytes storage holds (parts found there on resume count at once). */
  uploadedBytes: number;
  totalBytes: number;
  /** Bytes sent by this call, including parts sent again after a failure. */
  sentBytes: number;
  /** Parts stored / parts in all (1 / 1 for a single PUT). */
  partsDone: number;
  partCount: number;
}

export interface UploadOptions {
  api: ApiClient;
  videoId: string;
  ticket: UploadTicket;
  file: UploadBody;
  /** Parts in flight at once (default 4). */
  concurrency?: number;
  /** Tries per part (or for the single PUT) before giving up (default 4). */
  attempts?: number;
  onProgress?: (progress: UploadProgress) => void;
  signal?: AbortSignal;
  /** A fetch to use for the PUTs to storage (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** Thrown when the upload cannot go on: the message says why (storage's answer, the edge's error). */
export class UploadError extends Error {
  override name = "UploadError";
}

export async function uploadSource(opts: UploadOptions): Promise<UploadProgress> {
  const { ticket, file } = opts;
  if (file.size !== ticket.size) {
    throw new UploadError(`the file is ${file.size} bytes but the upload was declared as ${ticket.size}`);
  }
  return ticket.kind === "single" ? uploadSingle(opts, ticket) : uploadParts(opts, ticket);
}

async function uploadSingle(
  opts: UploadOptions,
  ticket: Extract<UploadTicket, { kind: "single" }>,
): Promise<UploadProgress> {
  const progress: UploadProgress = {
    uploadedBytes: 0,
    totalBytes: ticket.size,
    sentBytes: 0,
    partsDone: 0,
    partCount: 1,
  };
  let url = ticket.url;
  await withTries(opts, "the upload", async (attempt) => {
    if (attempt > 1) {
      // The URL may have expired: a fresh one, and a look whether the first try got through after all.
      const state = await edge(
        opts.api.GET("/v1/videos/{id}/upload", { params: { path: { id: opts.videoId } } }),
      );
      if (state.complete) return;
      if (state.ticket.kind === "single") url = state.ticket.url;
    }
    progress.sentBytes += ticket.size;
    await put(opts, url, opts.file.slice(0, ticket.size), ticket.headers);
  });
  progress.uploadedBytes = ticket.size;
  progress.partsDone = 1;
  opts.onProgress?.({ ...progress });
  return progress;
}

async function uploadParts(
  opts: UploadOptions,
  ticket: Extract<UploadTicket, { kind: "multipart" }>,
): Promise<UploadProgress> {
  const { api, videoId } = opts;
  const sizeOf = (n: number) =>
    n < ticket.partCount ? ticket.partSize : ticket.size - (n - 1) * ticket.partSize;
  const state = await edge(api.GET("/v1/videos/{id}/upload", { params: { path: { id: videoId } } }));
  const held = new Set(state.parts.map((p) => p.partNumber));
  const todo: number[] = [];
  for (let n = 1; n <= ticket.partCount; n++) if (!held.has(n)) todo.push(n);
  const progress: UploadProgress = {
    uploadedBytes: state.uploadedBytes,
    totalBytes: ticket.size,
    sentBytes: 0,
    partsDone: held.size,
    partCount: ticket.partCount,
  };
  opts.onProgress?.({ ...progress });

  // Part URLs, asked for a batch at a time just ahead of the workers (and again for a part whose URL expired).
  const urls = new Map<number, string>();
  let pending: Promise<void> | null = null;
  const fetchUrls = async (from: number) => {
    const batch = todo.slice(from, from + MAX_PART_URLS_PER_REQUEST);
    const answer = await edge(
      api.POST("/v1/videos/{id}/upload/parts", {
        params: { path: { id: videoId } },
        body: { partNumbers: batch },
      }),
    );
    for (const part of answer.parts) urls.set(part.partNumber, part.url);
  };
  const urlFor = async (index: number, n: number, fresh: boolean) => {
    if (fresh) urls.delete(n);
    while (!urls.has(n)) {
      pending ??= fetchUrls(fresh ? todo.indexOf(n) : index).finally(() => {
        pending = null;
      });
      await pending;
    }
    return urls.get(n) as string;
  };

  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const index = next++;
      const n = todo[index] as number;
      const size = sizeOf(n);
      const start = (n - 1) * ticket.partSize;
      await withTries(opts, `part ${n}`, async (attempt) => {
        const url = await urlFor(index, n, attempt > 1);
        progress.sentBytes += size;
        await put(opts, url, opts.file.slice(start, start + size), {});
      });
      urls.delete(n);
      progress.uploadedBytes += size;
      progress.partsDone += 1;
      opts.onProgress?.({ ...progress });
    }
  };
  const workers = Array.from({ length: Math.min(opts.concurrency ?? 4, Math.max(todo.length, 1)) }, worker);
  await Promise.all(workers);
  return progress;
}

/** Runs `step` up to `attempts` times, waiting longer after each failure; an abort stops at once. */
async function withTries(opts: UploadOptions, what: string, step: (attempt: number) => Promise<void>) {
  const attempts = opts.attempts ?? 4;
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      await step(attempt);
      return;
    } catch (error) {
      const final = error instanceof EdgeError && error.status < 500;
      if (opts.signal?.aborted || final || attempt >= attempts) {
        throw error instanceof UploadError || opts.signal?.aborted
          ? error
          : new UploadError(`${what} failed after ${attempt} tries: ${(error as Error).message}`, {
              cause: error,
            });
      }
      await sleep(Math.min(500 * 2 ** (attempt - 1), 8000), opts.signal);
    }
  }
}

async function put(opts: UploadOptions, url: string, body: Blob, headers: Record<string, string>) {
  const res = await (opts.fetch ?? fetch)(url, { method: "PUT", body, headers, signal: opts.signal ?? null });
  if (!res.ok) {
    const text = await res.text().catch(() => "");
    const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
    throw new Error(`storage answered ${res.status}${code ? ` ${code}` : ""}`);
  }
  await res.body?.cancel();
}

/** An error the edge answered: a 4xx is not retried (it says what is wrong), a 5xx is. */
class EdgeError extends UploadError {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

async function edge<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok && data !== undefined) return data;
  const message = (error as { error?: { message?: string } } | undefined)?.error?.message;
  throw new EdgeError(response.status, `the edge answered ${response.status}: ${message ?? "no details"}`);
}

function sleep(ms: number, signal?: AbortSignal) {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}
