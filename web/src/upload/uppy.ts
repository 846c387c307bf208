/**
 * The one module that knows Uppy: an Uppy per signed-in user, its S3 uploader mapped onto the edge's upload
 * routes, and Golden Retriever so a reload resumes where the upload was.
 *
 * Uppy 5, not 6, on purpose: @uppy/aws-s3 6 replaced these callbacks with `signRequest` and sends
 * CreateMultipartUpload / CompleteMultipartUpload (with the client's ETags) to storage itself, while this
 * edge owns the multipart lifecycle: it creates the upload with the video, completes it from its own
 * ListParts, and checks the sizes. Uppy 5's callbacks let each step be the edge's route instead.
 */

import type { UploadTicket } from "@streamlet/shared";
import AwsS3 from "@uppy/aws-s3";
import Uppy, { type Body, type UppyFile } from "@uppy/core";
import GoldenRetriever from "@uppy/golden-retriever";
import { session } from "../lib/api.ts";
import type { Video } from "../lib/api-types.ts";
import { describeError } from "../lib/errors.ts";
import { confirmUpload, createVideo, discardVideo, listParts, PartSigner, singlePut } from "./edge.ts";
import { titleFromFileName } from "./plan.ts";

/** What the page keeps per file (Golden Retriever stores it with the file, so a reload keeps the video). */
export type VideoMeta = {
  name: string;
  type?: string;
  title: string;
  description: string;
  visibility: Video["visibility"];
  /** Set once the edge created the video: never create a second one for this file. */
  videoId?: string;
  uploadKind?: UploadTicket["kind"];
  partSize?: number;
  partCount?: number;
  /** The edge took the upload (POST /uploaded answered): the transcode's progress takes over. */
  confirmed?: boolean;
};
export type VideoFile = UppyFile<VideoMeta, Body>;
export type VideoUppy = Uppy<VideoMeta, Body>;

/** Video files only: by type, or by extension for files the browser gives no type. */
export const ACCEPTED_FILES = [
  "video/*",
  ".mp4",
  ".m4v",
  ".mov",
  ".mkv",
  ".webm",
  ".avi",
  ".mpg",
  ".mpeg",
  ".ts",
];

/** Changes some of a file's meta (Uppy merges it into what the file has). */
export function setVideoMeta(uppy: VideoUppy, fileId: string, patch: Partial<VideoMeta>) {
  uppy.setFileMeta(fileId, patch as VideoMeta);
}

let current: { userId: string; uppy: VideoUppy } | null = null;

/**
 * The signed-in user's Uppy, kept while the app runs so an upload goes on when the page is left and is
 * found again on return. Another user gets their own (and their own stored uploads).
 */
export function uploaderFor(userId: string): VideoUppy {
  if (current?.userId === userId) return current.uppy;
  if (current) close(current.uppy);
  current = { userId, uppy: createUploader(userId) };
  return current.uppy;
}

/**
 * One tab at a time uploads for a user: Golden Retriever's saved state is per user, so a second tab would
 * restore the first one's files, and removing one there would delete the video the first is still
 * uploading. The tab that takes this Web Lock keeps it while the user stays signed in there; another tab
 * waits for it (closing or signing out of the first hands it over). Without Web Locks, no guard.
 */
let lock: { userId: string; held: boolean; granted: Promise<void>; release(): void } | null = null;

/** Whether this tab holds the user's upload lock; `granted` resolves once it does. */
export function uploaderLock(userId: string): { held: boolean; granted: Promise<void> } {
  const locks = globalThis.navigator?.locks;
  if (!locks) return { held: true, granted: Promise.resolve() };
  if (lock?.userId !== userId) {
    lock?.release();
    let grant = () => {};
    const entry = {
      userId,
      held: false,
      granted: new Promise<void>((resolve) => {
        grant = resolve;
      }),
      release: () => {},
    };
    lock = entry;
    void locks.request(
      `streamlet.uploads.${userId}`,
      () =>
        new Promise<void>((release) => {
          entry.release = release;
          if (lock !== entry) return release();
          entry.held = true;
          grant();
        }),
    );
  }
  return { held: lock.held, granted: lock.granted };
}

// Signing out stops the uploads (their resume state stays for the next sign-in) and lets another tab
// take them.
session.subscribe((signedIn) => {
  if (current && current.userId !== signedIn?.user.id) {
    close(current.uppy);
    current = null;
  }
  if (lock && lock.userId !== signedIn?.user.id) {
    lock.release();
    lock = null;
  }
});

/** Stops the previous user's uploads without discarding their videos or the stored resume state. */
function close(uppy: VideoUppy) {
  closing.add(uppy);
  const retriever = uppy.getPlugin("GoldenRetriever");
  if (retriever) uppy.removePlugin(retriever);
  uppy.destroy();
}
const closing = new WeakSet<VideoUppy>();

function createUploader(userId: string): VideoUppy {
  const uppy: VideoUppy = new Uppy<VideoMeta, Body>({
    id: `streamlet-upload-${userId}`,
    autoProceed: false,
    restrictions: { allowedFileTypes: ACCEPTED_FILES },
    meta: { description: "", visibility: "public" } as VideoMeta,
  });
  /** Fresh single-PUT tickets from creation (lost on reload: then GET /upload hands out a new one). */
  const tickets = new Map<string, UploadTicket>();
  const signers = new Map<string, PartSigner>();
  const videoOf = (file: VideoFile) => {
    const id = uppy.getFile(file.id)?.meta.videoId ?? file.meta.videoId;
    if (!id) throw new Error("this file has no video yet");
    return id;
  };

  uppy.on("file-added", (file) => {
    if (!file.meta.title) setVideoMeta(uppy, file.id, { title: titleFromFileName(file.name) });
  });

  // Once per file: the video, and the edge's choice of one PUT or parts (kept in the file's meta).
  uppy.addPreProcessor(async (fileIDs) => {
    for (const id of fileIDs) {
      const file = uppy.getFile(id);
      if (!file || file.meta.videoId || file.error || file.progress.uploadComplete) continue;
      uppy.emit("preprocess-progress", file, { mode: "indeterminate", message: "Creating the video…" });
      try {
        const { video, ticket } = await createVideo({
          title: file.meta.title,
          description: file.meta.description,
          visibility: file.meta.visibility,
          file: { size: file.size ?? 0, type: file.type, name: file.name },
        });
        if (!uppy.getFile(id)) {
          // Removed while the edge created it: nothing will upload to this video.
          void discardVideo(video.id).catch(() => {});
          continue;
        }
        tickets.set(video.id, ticket);
        setVideoMeta(uppy, id, {
          videoId: video.id,
          uploadKind: ticket.kind,
          ...(ticket.kind === "multipart" ? { partSize: ticket.partSize, partCount: ticket.partCount } : {}),
        });
      } catch (error) {
        // This file stops here (the uploader skips files with an error); the others go on.
        uppy.emit("upload-error", file, new Error(describeError(error)));
      } finally {
        const latest = uppy.getFile(id);
        if (latest) uppy.emit("preprocess-complete", latest);
      }
    }
  });

  uppy.use(AwsS3<VideoMeta, Body>, {
    limit: 4,
    shouldUseMultipart: (file) => file.meta.uploadKind === "multipart",
    // The edge fixes the part size; Uppy hands this the file's data, so find the file it belongs to.
    getChunkSize: (data) =>
      uppy.getFiles().find((f) => f.data === data)?.meta.partSize ?? Math.max(data.size, 5 * 1024 * 1024),
    getUploadParameters: (file, { signal }) => {
      const videoId = videoOf(file);
      return singlePut(videoId, tickets.get(videoId), signal);
    },
    // The edge created the multipart upload with the video: its id stands for both.
    createMultipartUpload: (file) => {
      const videoId = videoOf(file);
      return { uploadId: videoId, key: videoId };
    },
    signPart: async (file, { partNumber, signal }) => {
      const videoId = videoOf(file);
      let signer = signers.get(videoId);
      if (!signer) {
        signer = new PartSigner(videoId, uppy.getFile(file.id)?.meta.partCount ?? partNumber);
        signers.set(videoId, signer);
      }
      return { method: "PUT", url: await signer.sign(partNumber, signal) };
    },
    listParts: (file, { signal }) => listParts(videoOf(file), signal),
    uploadPartBytes: (options) => AwsS3.uploadPartBytes(options).catch(explainStorageError),
    // The edge completes from storage's own list of parts: the client's ETags are not sent.
    completeMultipartUpload: async (file) => {
      const videoId = videoOf(file);
      await confirmUpload(videoId);
      setVideoMeta(uppy, file.id, { confirmed: true });
      return {};
    },
    // Uppy aborts when the file was removed or the upload cancelled (the file is gone by then: give the
    // video up), and also after a failed part or completion (the file is still here: keep the video, so
    // "Try again" uploads to it again).
    abortMultipartUpload: async (file) => {
      if (!closing.has(uppy) && !uppy.getFile(file.id)) await discardVideo(videoOf(file));
    },
  });

  // A single PUT is confirmed as soon as it lands; the post-processor waits for it (and retries it after a
  // reload or a failed try).
  uppy.on("upload-success", (file) => {
    if (file?.meta.uploadKind === "single" && file.meta.videoId)
      void confirmUpload(file.meta.videoId).catch(() => {});
  });
  uppy.addPostProcessor(async (fileIDs) => {
    for (const id of fileIDs) {
      const file = uppy.getFile(id);
      if (!file?.meta.videoId || file.meta.confirmed || file.error || !file.progress.uploadComplete) continue;
      uppy.emit("postprocess-progress", file, { mode: "indeterminate", message: "Confirming the upload…" });
      try {
        await confirmUpload(file.meta.videoId);
        setVideoMeta(uppy, id, { confirmed: true });
      } catch (error) {
        uppy.emit("upload-error", file, new Error(describeError(error)));
      } finally {
        const latest = uppy.getFile(id);
        if (latest) uppy.emit("postprocess-complete", latest);
      }
    }
  });

  // A file removed before the edge took its upload: its video is given up on too.
  uppy.on("file-removed", (file) => {
    const videoId = file.meta.videoId;
    if (videoId && !file.meta.confirmed && !closing.has(uppy)) void discardVideo(videoId).catch(() => {});
  });

  // Golden Retriever keeps files up to 10 MiB in IndexedDB (its default); larger ones are picked again.
  uppy.use(GoldenRetriever);
  // A restored upload resumes by itself once every file has its data back (at once when the browser kept
  // them, else when the last missing file is picked again). Files that were only picked stay drafts.
  const resumeWhenWhole = () => {
    const { recoveredState, currentUploads } = uppy.getState();
    const files = uppy.getFiles();
    if (!recoveredState || files.some((f) => f.isGhost)) return;
    if (Object.keys(currentUploads).length > 0) uppy.emit("restore-confirmed");
    else uppy.setState({ recoveredState: null });
  };
  uppy.on("restored", resumeWhenWhole);
  uppy.on("file-added", resumeWhenWhole);
  return uppy;
}

/**
 * Uppy's PUT errors say "Non 2xx" or "Unknown error": say what happened instead, keeping the error itself
 * (Uppy decides on retries from its `source` and its "Request has expired" message).
 */
function explainStorageError(error: unknown): never {
  if (error instanceof Error) {
    const status = (error as Error & { source?: { status?: number } }).source?.status;
    if (error.message === "Non 2xx") error.message = `storage refused the upload (HTTP ${status ?? "error"})`;
    else if (error.message === "Unknown error") {
      error.message = "the connection to storage failed: check your connection, then try again";
    }
  }
  throw error;
}
