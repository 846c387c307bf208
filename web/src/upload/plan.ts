/**
 * The upload page's pure decisions, kept apart from Uppy and the network so they can be tested in Node:
 * what a new file is called, what the edge is told about it, where each file stands, and which part URLs
 * to ask for together.
 */

/** Longest title and file name the edge accepts (shared/src/api.ts: singleLineText(200) / (255)). */
export const MAX_TITLE = 200;
export const MAX_FILE_NAME = 255;
/** Part URLs asked for in one request: the part Uppy needs and a few after it (the edge allows 100). */
export const PART_URL_BATCH = 4;

/** A file's default title: its name without the extension, separators as spaces, trimmed to fit. */
export function titleFromFileName(name: string): string {
  const stem = name.replace(/\.[A-Za-z0-9]{1,5}$/, "");
  const words = stem.replace(/[_]+/g, " ").replace(/\s+/g, " ").trim();
  return (words || name.trim() || "Untitled video").slice(0, MAX_TITLE);
}

/** The `upload` part of POST /v1/videos for a picked file (a type the edge would refuse is left out). */
export function sourceUploadFor(file: { size: number; type?: string | undefined; name: string }) {
  const type = file.type ?? "";
  const fileName = file.name
    .replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, " ")
    .trim()
    .slice(0, MAX_FILE_NAME);
  return {
    size: file.size,
    ...(/^[\w.+-]+\/[\w.+-]+$/.test(type) && type.length <= 255 ? { contentType: type } : {}),
    ...(fileName ? { fileName } : {}),
  };
}

/** The parts storage holds (GET /v1/videos/:id/upload) as Uppy's listParts wants them. */
export function toUppyParts(parts: readonly { partNumber: number; size: number; etag: string }[]) {
  return parts.map((p) => ({ PartNumber: p.partNumber, Size: p.size, ETag: p.etag }));
}

/**
 * The part numbers to sign together when Uppy asks for `wanted`: it and the next few not yet signed nor
 * held by storage, never past the last part.
 */
export function partBatch(
  wanted: number,
  partCount: number,
  skip: (partNumber: number) => boolean,
  size = PART_URL_BATCH,
): number[] {
  const batch = [wanted];
  for (let n = wanted + 1; n <= partCount && batch.length < size; n++) if (!skip(n)) batch.push(n);
  return batch;
}

/** Where one picked file stands, as the page shows it. */
export type FilePhase =
  | { kind: "missing" }
  | { kind: "draft" }
  | { kind: "creating" }
  | { kind: "uploading"; percent: number; bytesUploaded: number; bytesTotal: number }
  | { kind: "confirming" }
  | { kind: "uploaded" }
  | { kind: "failed"; message: string };

/** What filePhase reads of an Uppy file (its state, not its blob). */
export interface FileFacts {
  isGhost?: boolean | undefined;
  error?: string | null | undefined;
  progress: {
    uploadStarted: number | null;
    uploadComplete?: boolean | undefined;
    bytesUploaded: number | false;
    bytesTotal: number | null;
    preprocess?: unknown;
    postprocess?: unknown;
  };
  meta: { videoId?: string | undefined; confirmed?: boolean | undefined };
}

/** The file's phase: from a draft to uploaded (then the transcode's own progress takes over). */
export function filePhase(file: FileFacts): FilePhase {
  if (file.meta.confirmed) return { kind: "uploaded" };
  if (file.error) return { kind: "failed", message: file.error };
  if (file.isGhost) return { kind: "missing" };
  const { progress } = file;
  if (progress.preprocess) return { kind: "creating" };
  if (progress.uploadComplete || progress.postprocess) return { kind: "confirming" };
  if (progress.uploadStarted || file.meta.videoId) {
    const total = progress.bytesTotal ?? 0;
    const done = progress.bytesUploaded || 0;
    const percent = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
    return { kind: "uploading", percent, bytesUploaded: done, bytesTotal: total };
  }
  return { kind: "draft" };
}
