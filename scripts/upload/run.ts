import { openAsBlob, statSync } from "node:fs";
import path from "node:path";
import type { CreateVideoBody, UploadTicket, Video } from "@streamlet/shared";
import { waitForTerminalEvent } from "@streamlet/shared/progress-client";
import { uploadSource } from "@streamlet/shared/upload-client";
import WebSocket from "ws";
import { ApiError } from "../stack/client.ts";
import type { Options, Source } from "./args.ts";
import { describeError } from "./errors.ts";
import { forgetPending, pendingFile, readPending, savePending } from "./resume.ts";
import type { Session } from "./session.ts";
import type { View } from "./view.ts";

/** What the run ended with: the last line of output (`--json` prints it as is). */
export interface Outcome {
  videoId: string;
  status: Video["status"];
  /** The video in the API (there is no web app yet). */
  url: string;
  hls: string | null;
  reason: string | null;
  /** Bytes this run sent to storage (parts found there on resume are not sent again). */
  sentBytes: number;
  resumed: boolean;
  seconds: number;
}

interface Run {
  opts: Options & { source: Source };
  session: Session;
  view: View;
  env: NodeJS.ProcessEnv;
}

/** Uploads (or imports) the source, confirms it, and follows the transcode: the steps, each a function below. */
export async function runUpload(run: Run): Promise<Outcome> {
  const started = Date.now();
  const { opts, view } = run;
  const source = opts.source.kind === "file" ? opts.source.path : opts.source.url;
  const stateFile = pendingFile(opts.edge, source, run.env);

  let video = await pendingVideo(run, stateFile);
  const resumed = video !== null;
  let ticket: UploadTicket | null = null;
  if (!video) {
    ({ video, upload: ticket } = await createVideo(run));
    savePending(stateFile, {
      videoId: video.id,
      edge: opts.edge,
      source,
      createdAt: new Date().toISOString(),
    });
  }
  const id = video.id;

  let sentBytes = 0;
  if (video.status === "awaiting_upload" && opts.source.kind === "file") {
    sentBytes = await sendFile(run, id, opts.source.path, ticket);
    video = (await run.session.client.markUploaded(id)).video;
    view.say(`upload confirmed: video ${id} is ${video.status}`);
  }
  const outcome = (v: Video, reason: string | null = v.failureReason): Outcome => ({
    videoId: id,
    status: v.status,
    url: `${opts.edge}/v1/videos/${id}`,
    hls: v.playback.hls,
    reason,
    sentBytes,
    resumed,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  });
  if (!opts.wait) {
    forgetPending(stateFile);
    return outcome(video);
  }

  const final = await follow(run, video);
  forgetPending(stateFile);
  return outcome(final.video, final.reason);
}

/** The video an interrupted run of this command made, when it can be carried on; null to start afresh. */
async function pendingVideo(run: Run, stateFile: string): Promise<Video | null> {
  const pending = readPending(stateFile);
  if (!pending) return null;
  let video: Video;
  try {
    video = await run.session.client.getVideo(pending.videoId);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 404) throw error;
    run.view.say(`video ${pending.videoId} of an earlier run is gone: starting afresh`);
    forgetPending(stateFile);
    return null;
  }
  if (video.status === "failed") {
    run.view.say(`video ${video.id} of an earlier run failed (${video.failureReason}): starting afresh`);
    forgetPending(stateFile);
    return null;
  }
  run.view.say(
    video.status === "awaiting_upload"
      ? `resuming the upload of video ${video.id}`
      : `video ${video.id} of an earlier run is ${video.status}: following it`,
  );
  return video;
}

async function createVideo(run: Run) {
  const { opts, session, view } = run;
  const body: CreateVideoBody =
    opts.source.kind === "file"
      ? {
          title: opts.title,
          description: opts.description,
          visibility: opts.visibility,
          upload: {
            size: statSync(opts.source.path).size,
            fileName: path.basename(opts.source.path).slice(0, 255),
          },
        }
      : {
          title: opts.title,
          description: opts.description,
          visibility: opts.visibility,
          source: { url: opts.source.url },
        };
  const { data, error, response } = await session.client.api.POST("/v1/videos", { body });
  if (!response.ok || !data) throw new ApiError(response.status, error ?? null);
  view.say(
    opts.source.kind === "file"
      ? `video ${data.video.id} created: uploading ${path.basename(opts.source.path)}`
      : `video ${data.video.id} created: importing ${opts.source.url}`,
  );
  return data;
}

/** Sends what storage does not hold yet (all of it for a new video); returns the bytes sent. */
async function sendFile(run: Run, id: string, file: string, ticket: UploadTicket | null): Promise<number> {
  const { session, view, opts } = run;
  if (!ticket) {
    const state = await session.client.api.GET("/v1/videos/{id}/upload", { params: { path: { id } } });
    if (!state.response.ok || !state.data) throw new ApiError(state.response.status, state.error ?? null);
    if (state.data.complete) return 0;
    ticket = state.data.ticket;
  }
  view.beginUpload();
  const result = await uploadSource({
    api: session.client.api,
    videoId: id,
    ticket,
    file: await openAsBlob(file),
    concurrency: opts.concurrency,
    onProgress: (p) => view.upload(p),
  });
  view.clear();
  return result.sentBytes;
}

/** Follows the progress socket to ready or failed, printing the HLS URL as soon as the video is playable. */
async function follow(run: Run, video: Video): Promise<{ video: Video; reason: string | null }> {
  const { session, view, opts } = run;
  if (video.status === "ready") return { video, reason: null };
  let announced = false;
  const end = await waitForTerminalEvent({
    baseUrl: opts.edge,
    videoId: video.id,
    accessToken: () => session.token(),
    WebSocket,
    onEvent(e) {
      view.event(e);
      if (e.type === "playable" && !announced) {
        announced = true;
        session.client.getVideo(video.id).then(
          (v) => v.playback.hls && view.say(`watch it while it is processing: ${v.playback.hls}`),
          () => {},
        );
      }
    },
    onError(e) {
      if (e.kind === "socket" && e.willRetry) view.say(`progress socket: ${e.message} (reconnecting)`);
      else if (e.kind === "server") view.say(`progress socket: ${e.code}: ${e.message}`);
    },
  }).catch((error: Error) => {
    throw new Error(`following the transcode failed: ${describeError(error, opts.edge)}`);
  });
  view.clear();
  // The edge writes the outcome to the database before it sends it: the row is final now.
  const final = await session.client.getVideo(video.id);
  return { video: final, reason: end.type === "failed" ? end.reason : final.failureReason };
}
