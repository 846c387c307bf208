/**
 * The edge's upload routes as the Uppy callbacks need them: the video is created once per file, part URLs
 * are asked for a few at a time and kept until they expire, and confirming or discarding a video happens
 * at most once however many paths ask for it (Uppy's abort and the page's remove both may).
 */
import type { UploadTicket } from "@streamlet/shared";
import { api, call } from "../lib/api.ts";
import type { Video } from "../lib/api-types.ts";
import { partBatch, sourceUploadFor, toUppyParts } from "./plan.ts";

export interface NewVideo {
  title: string;
  description: string;
  visibility: Video["visibility"];
  file: { size: number; type?: string | undefined; name: string };
}

/** POST /v1/videos for one file: the video and its upload ticket (one PUT or parts). */
export async function createVideo(input: NewVideo, signal?: AbortSignal) {
  const description = input.description.trim();
  const created = await call(
    api.POST("/v1/videos", {
      body: {
        title: input.title.trim(),
        ...(description ? { description } : {}),
        visibility: input.visibility,
        upload: sourceUploadFor(input.file),
      },
      ...(signal ? { signal } : {}),
    }),
  );
  if (!created.upload) throw new Error("the edge did not hand out an upload for this file");
  return { video: created.video, ticket: created.upload };
}

/** What storage holds of the upload, with a fresh ticket (GET /v1/videos/:id/upload). */
export function uploadState(videoId: string, signal?: AbortSignal) {
  return call(
    api.GET("/v1/videos/{id}/upload", { params: { path: { id: videoId } }, ...(signal ? { signal } : {}) }),
  );
}

/** Parts storage already holds, as Uppy's listParts wants them. */
export async function listParts(videoId: string, signal?: AbortSignal) {
  return toUppyParts((await uploadState(videoId, signal)).parts);
}

/** A single PUT's URL and headers: the ticket from creation when still fresh, else a new one. */
export async function singlePut(videoId: string, fresh: UploadTicket | undefined, signal?: AbortSignal) {
  let ticket = fresh;
  if (ticket?.kind !== "single" || Date.parse(ticket.expiresAt) - Date.now() < 60_000) {
    ticket = (await uploadState(videoId, signal)).ticket;
  }
  if (ticket.kind !== "single") throw new Error("the edge expects this file in parts");
  return { method: "PUT" as const, url: ticket.url, headers: ticket.headers };
}

interface SignedPart {
  url: string;
  expiresAt: number;
}

/**
 * Part URLs for one video: asks for the wanted part and a few after it in one request, and hands out the
 * ones still valid for a minute from the cache.
 */
export class PartSigner {
  readonly #videoId: string;
  readonly #partCount: number;
  readonly #urls = new Map<number, SignedPart>();
  readonly #pending = new Map<number, Promise<void>>();

  constructor(videoId: string, partCount: number) {
    this.#videoId = videoId;
    this.#partCount = partCount;
  }

  async sign(partNumber: number, signal?: AbortSignal): Promise<string> {
    for (;;) {
      const cached = this.#urls.get(partNumber);
      if (cached && cached.expiresAt - Date.now() > 60_000) {
        this.#urls.delete(partNumber);
        return cached.url;
      }
      const pending = this.#pending.get(partNumber);
      if (pending) {
        // Another part's batch request: its failure or abort (that part's signal) is not this part's;
        // without a URL from it, this part asks for its own.
        await pending.catch(() => {});
        if (this.#urls.has(partNumber)) continue;
      }
      await this.#fetch(partNumber, signal);
      const fetched = this.#urls.get(partNumber);
      if (!fetched) throw new Error(`the edge signed no URL for part ${partNumber}`);
      this.#urls.delete(partNumber);
      return fetched.url;
    }
  }

  #fetch(partNumber: number, signal?: AbortSignal): Promise<void> {
    const batch = partBatch(partNumber, this.#partCount, (n) => this.#urls.has(n) || this.#pending.has(n));
    const request = call(
      api.POST("/v1/videos/{id}/upload/parts", {
        params: { path: { id: this.#videoId } },
        body: { partNumbers: batch },
        ...(signal ? { signal } : {}),
      }),
    ).then((answer) => {
      const expiresAt = Date.parse(answer.expiresAt);
      for (const part of answer.parts) this.#urls.set(part.partNumber, { url: part.url, expiresAt });
    });
    const settled = request.finally(() => {
      for (const n of batch) if (this.#pending.get(n) === settled) this.#pending.delete(n);
    });
    for (const n of batch) this.#pending.set(n, settled);
    return settled;
  }
}

const confirmations = new Map<string, Promise<Video>>();
const discards = new Map<string, Promise<void>>();

/** POST /v1/videos/:id/uploaded, once per video (a failed try may be made again). */
export function confirmUpload(videoId: string): Promise<Video> {
  let pending = confirmations.get(videoId);
  if (!pending) {
    pending = call(api.POST("/v1/videos/{id}/uploaded", { params: { path: { id: videoId } } })).then(
      (answer) => answer.video,
    );
    pending.catch(() => confirmations.delete(videoId));
    confirmations.set(videoId, pending);
  }
  return pending;
}

/** DELETE /v1/videos/:id for an upload given up on, once per video; a video already gone is fine. */
export function discardVideo(videoId: string): Promise<void> {
  let pending = discards.get(videoId);
  if (!pending) {
    pending = call(api.DELETE("/v1/videos/{id}", { params: { path: { id: videoId } } })).then(
      () => undefined,
      (error: unknown) => {
        if ((error as { status?: number }).status !== 404) throw error;
      },
    );
    discards.set(videoId, pending);
  }
  return pending;
}
