import {
  MAX_PARTS,
  MIN_PART_BYTES,
  type SourceUpload,
  sourceKey,
  type UploadState,
  type UploadTicket,
} from "@streamlet/shared";
import { and, eq, sql } from "drizzle-orm";
import type { Config } from "../config.ts";
import type { Db } from "../db/client.ts";
import { type VideoRow, videos } from "../db/schema.ts";
import { HttpError } from "../errors.ts";
import { Storage, StorageError, type StoredPart, UPLOAD_URL_SECONDS } from "../storage.ts";

/**
 * The source upload of a video, straight from the client to storage: one presigned PUT for small files, an
 * S3 multipart upload for large ones (parts PUT in parallel, resumable from what storage holds). Every URL is
 * signed for an exact size, the upload is completed from what storage reports (never from ETags a client
 * sends), and no byte passes through the Worker.
 */

type UploadLimits = Config["uploads"];
const MIB = 1024 * 1024;

/** How the file is uploaded: decided from its size alone, so every later request derives the same. */
export type UploadPlan =
  | { kind: "single"; size: number }
  | { kind: "multipart"; size: number; partSize: number };

export function planUpload(size: number, limits: UploadLimits): UploadPlan {
  if (size <= limits.multipartThresholdBytes) return { kind: "single", size };
  // At most 10 000 parts: a larger file gets larger parts (whole MiB).
  const partSize = Math.max(limits.partBytes, Math.ceil(size / MAX_PARTS / MIB) * MIB, MIN_PART_BYTES);
  return { kind: "multipart", size, partSize };
}

export function partCount(plan: { size: number; partSize: number }): number {
  return Math.ceil(plan.size / plan.partSize);
}

/** The exact size of part `n` (1-based): partSize but for the last, which holds the rest. */
export function partSize(plan: { size: number; partSize: number }, n: number): number {
  return n < partCount(plan) ? plan.partSize : plan.size - (partCount(plan) - 1) * plan.partSize;
}

/** The plan a stored video was created with; null for one without a declared upload (imports, old rows). */
export function planOf(row: VideoRow): UploadPlan | null {
  if (row.uploadBytes === null) return null;
  if (row.uploadPartBytes === null) return { kind: "single", size: row.uploadBytes };
  return { kind: "multipart", size: row.uploadBytes, partSize: row.uploadPartBytes };
}

/** Refuses a file over the size limit (413) before anything is stored. */
export function checkSourceSize(size: number, limits: UploadLimits): void {
  if (size > limits.maxSourceBytes) {
    throw new HttpError(
      413,
      "source_too_large",
      `the file is ${size} bytes; the largest source this server takes is ${limits.maxSourceBytes} bytes`,
    );
  }
}

/**
 * Inserts the video after checking the owner's storage quota: the sources they hold plus what they have
 * declared and not uploaded yet (or reserved for an import), plus this file. `bytes` is the declared size
 * of an upload; `{ upTo }` reserves for an import of unknown size what is left, at most `upTo` (the import
 * may store no more: the reservation is the job's limit, kept in upload_bytes until the real size is known).
 * Owners are serialised by a transaction-scoped advisory lock, so two uploads at once cannot both fit in
 * the space left for one.
 */
export async function insertWithinQuota(
  db: Db,
  limits: UploadLimits,
  ownerId: string,
  bytes: number | { upTo: number },
  values: Omit<typeof videos.$inferInsert, "ownerId" | "uploadBytes">,
): Promise<VideoRow> {
  return db.transaction(async (tx) => {
    let free = Number.MAX_SAFE_INTEGER;
    let used = 0;
    if (limits.storageQuotaBytes !== null) {
      await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`quota:${ownerId}`}, 0))`);
      const [held] = await tx
        .select({
          bytes: sql<string>`coalesce(sum(coalesce(${videos.sourceBytes}, ${videos.uploadBytes}, 0)), 0)`,
        })
        .from(videos)
        .where(eq(videos.ownerId, ownerId));
      used = Number(held?.bytes ?? 0);
      free = limits.storageQuotaBytes - used;
    }
    const reserved = typeof bytes === "number" ? bytes : Math.min(bytes.upTo, free);
    if (reserved > free || reserved <= 0) {
      throw new HttpError(
        403,
        "storage_quota_exceeded",
        typeof bytes === "number"
          ? `this file (${bytes} bytes) does not fit in your storage quota: ${used} of ${limits.storageQuotaBytes} bytes are used`
          : `your storage quota is used up: ${used} of ${limits.storageQuotaBytes} bytes`,
      );
    }
    const [row] = await tx
      .insert(videos)
      .values({ ...values, ownerId, uploadBytes: reserved })
      .returning();
    if (!row) throw new Error("insert into videos returned no row");
    return row;
  });
}

/**
 * Starts the upload of a new video's declared source: the single PUT's URL, or a multipart upload (whose id
 * is stored on the row). Returns the ticket for the client and the row as stored.
 */
export async function startUpload(
  db: Db,
  config: Config,
  row: VideoRow,
  upload: SourceUpload,
): Promise<{ ticket: UploadTicket; row: VideoRow }> {
  const plan = planUpload(upload.size, config.uploads);
  const storage = new Storage(config.s3);
  if (plan.kind === "single") return { ticket: await singleTicket(storage, row.id, plan.size), row };
  const uploadId = await storage.createMultipartUpload(sourceKey(row.id), upload.contentType);
  const [updated] = await db
    .update(videos)
    .set({ uploadId, uploadPartBytes: plan.partSize })
    .where(eq(videos.id, row.id))
    .returning();
  if (!updated) {
    // Deleted in the meantime: nothing may stay behind in storage.
    await storage.abortMultipartUpload(sourceKey(row.id), uploadId);
    throw new HttpError(404, "not_found", "video not found");
  }
  return { ticket: multipartTicket(plan), row: updated };
}

async function singleTicket(storage: Storage, id: string, size: number): Promise<UploadTicket> {
  const put = await storage.presignPut(sourceKey(id), { contentLength: size });
  return { kind: "single", ...put, size };
}

function multipartTicket(plan: { size: number; partSize: number }): UploadTicket {
  return { kind: "multipart", size: plan.size, partSize: plan.partSize, partCount: partCount(plan) };
}

/** The row's upload, which must still be awaited; 409 otherwise. */
function pendingPlan(row: VideoRow): UploadPlan {
  if (row.status !== "awaiting_upload") {
    throw new HttpError(409, "invalid_state", `the video is ${row.status}: its source was already uploaded`);
  }
  const plan = planOf(row);
  if (!plan)
    throw new HttpError(409, "invalid_state", "this video has no upload (it was imported from a URL)");
  return plan;
}

/** Marks the upload active: the cleanup removes a video that has not asked for anything for a day. */
async function touch(db: Db, id: string): Promise<void> {
  await db.update(videos).set({ updatedAt: sql`now()` }).where(eq(videos.id, id));
}

/** Presigned PUTs for the given parts of a multipart upload, each signed for its exact size. */
export async function partUrls(db: Db, config: Config, row: VideoRow, partNumbers: number[]) {
  const plan = pendingPlan(row);
  if (plan.kind !== "multipart") {
    throw new HttpError(409, "not_multipart", "this video's source is uploaded with one PUT, not in parts");
  }
  if (row.uploadId === null) {
    // Completed by an earlier /uploaded whose job could not be queued: confirm it again.
    throw new HttpError(
      409,
      "invalid_state",
      "the upload is complete: confirm it with POST /v1/videos/{id}/uploaded",
    );
  }
  const count = partCount(plan);
  const outside = partNumbers.filter((n) => n > count);
  if (outside.length > 0) {
    throw new HttpError(
      400,
      "invalid_request",
      `the upload has ${count} parts; no part ${outside.join(", ")}`,
    );
  }
  await touch(db, row.id);
  const storage = new Storage(config.s3);
  const now = new Date();
  const unique = [...new Set(partNumbers)].sort((a, b) => a - b);
  const parts = await Promise.all(
    unique.map(async (n) => ({
      partNumber: n,
      size: partSize(plan, n),
      url: await storage.presignUploadPart(
        sourceKey(row.id),
        row.uploadId as string,
        n,
        partSize(plan, n),
        now,
      ),
    })),
  );
  return { parts, expiresAt: new Date(now.getTime() + UPLOAD_URL_SECONDS * 1000).toISOString() };
}

/** What storage holds of the upload: the client resumes from it (a single PUT gets a fresh URL). */
export async function uploadState(db: Db, config: Config, row: VideoRow): Promise<UploadState> {
  const plan = pendingPlan(row);
  await touch(db, row.id);
  const storage = new Storage(config.s3);
  if (plan.kind === "single") {
    const stored = await storage.headSize(sourceKey(row.id));
    return {
      ticket: await singleTicket(storage, row.id, plan.size),
      parts: [],
      uploadedBytes: stored === plan.size ? stored : 0,
      complete: stored === plan.size,
    };
  }
  if (row.uploadId === null) {
    // Completed by an earlier /uploaded whose job could not be queued: the object is whole in storage.
    const stored = await storage.headSize(sourceKey(row.id));
    const complete = stored === plan.size;
    return { ticket: multipartTicket(plan), parts: [], uploadedBytes: complete ? plan.size : 0, complete };
  }
  const parts = (await storage.listParts(sourceKey(row.id), row.uploadId)) ?? [];
  const valid = parts.filter(
    (p) => p.partNumber <= partCount(plan) && p.size === partSize(plan, p.partNumber),
  );
  const uploadedBytes = valid.reduce((sum, p) => sum + p.size, 0);
  return {
    ticket: multipartTicket(plan),
    parts: valid,
    uploadedBytes,
    complete: uploadedBytes === plan.size,
  };
}

/**
 * Makes sure the declared source is whole in storage and returns its size: a single PUT is checked by size;
 * a multipart upload is completed from the parts storage lists (a missing part: 409; parts that do not add
 * up to the declared file: 422 and the upload is discarded, a fresh one started for another try).
 */
export async function finishUpload(db: Db, config: Config, row: VideoRow): Promise<number> {
  const storage = new Storage(config.s3);
  const key = sourceKey(row.id);
  const plan = planOf(row);
  if (plan?.kind === "multipart" && row.uploadId !== null) {
    const parts = await storage.listParts(key, row.uploadId);
    // Gone: a concurrent confirmation completed it (the object exists) or it was aborted (it does not).
    if (parts !== null) await completeFromParts(db, storage, row, plan, row.uploadId, parts);
  }
  const size = await storage.headSize(key);
  if (size === null) {
    throw new HttpError(409, "upload_missing", "no source file has been uploaded for this video yet");
  }
  if (size === 0) throw new HttpError(422, "upload_empty", "the uploaded source file is empty");
  if (plan && size !== plan.size) {
    await storage.delete(key);
    throw new HttpError(
      422,
      "upload_size_mismatch",
      `the uploaded file is ${size} bytes, not the ${plan.size} bytes declared; it was discarded: upload it again`,
    );
  }
  if (size > config.uploads.maxSourceBytes) {
    await storage.delete(key);
    checkSourceSize(size, config.uploads);
  }
  return size;
}

async function completeFromParts(
  db: Db,
  storage: Storage,
  row: VideoRow,
  plan: { size: number; partSize: number },
  uploadId: string,
  parts: StoredPart[],
): Promise<void> {
  const key = sourceKey(row.id);
  const count = partCount(plan);
  const stored = new Map(parts.map((p) => [p.partNumber, p]));
  const wrong = parts.filter((p) => p.partNumber > count || p.size !== partSize(plan, p.partNumber));
  if (wrong.length > 0) {
    // Only URLs signed for other sizes make this (storage checks the signed Content-Length): start over.
    await storage.abortMultipartUpload(key, uploadId);
    const fresh = await storage.createMultipartUpload(key, row.sourceContentType ?? undefined);
    await db
      .update(videos)
      .set({ uploadId: fresh })
      .where(and(eq(videos.id, row.id), eq(videos.uploadId, uploadId)));
    const received = parts.reduce((sum, p) => sum + p.size, 0);
    throw new HttpError(
      422,
      "upload_size_mismatch",
      `the parts stored (${received} bytes, part ${wrong[0]?.partNumber} of ${wrong[0]?.size} bytes) do not make ` +
        `the ${plan.size} bytes declared; they were discarded: upload the file again`,
    );
  }
  const missing: number[] = [];
  for (let n = 1; n <= count && missing.length < 20; n++) if (!stored.has(n)) missing.push(n);
  if (missing.length > 0) {
    throw new HttpError(
      409,
      "upload_incomplete",
      `storage has ${parts.length} of the ${count} parts; missing: ${missing.join(", ")}${
        count - parts.length > missing.length ? ", …" : ""
      }`,
    );
  }
  try {
    await storage.completeMultipartUpload(key, uploadId, parts);
  } catch (error) {
    // Storage changed under us: a part PUT again since the listing, or the upload aborted (a delete).
    if (error instanceof StorageError && error.code === "InvalidPart") {
      throw new HttpError(
        409,
        "upload_incomplete",
        "a part changed while the upload was being completed: try again",
      );
    }
    if (error instanceof StorageError && error.code === "NoSuchUpload") {
      throw new HttpError(
        409,
        "upload_missing",
        "the upload is gone from storage (the video was deleted or expired)",
      );
    }
    throw error;
  }
  await db.update(videos).set({ uploadId: null }).where(eq(videos.id, row.id));
}

/** Aborts the video's multipart upload, if one is in progress (deleting a video). */
export async function abortUpload(config: Config, row: VideoRow): Promise<void> {
  if (row.uploadId === null) return;
  await new Storage(config.s3).abortMultipartUpload(sourceKey(row.id), row.uploadId);
}
