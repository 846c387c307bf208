import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorNotice } from "../components/notice.tsx";
import { api, call } from "../lib/api.ts";
import type { Video } from "../lib/api-types.ts";
import { formatAgo, formatDuration } from "../lib/format.ts";
import { TranscodeProgress } from "../progress/transcode-progress.tsx";
import { DeliveryPanel } from "./delivery-panel.tsx";
import { MAX_TITLE } from "./plan.ts";

const STATUS: Record<Video["status"], string> = {
  awaiting_upload: "Upload not finished",
  queued: "Queued",
  processing: "Processing",
  ready: "Ready",
  failed: "Failed",
};
const VISIBILITY: Record<Video["visibility"], string> = {
  public: "Public",
  unlisted: "Unlisted",
  private: "Private",
};

/**
 * One of the owner's videos: status (live while it transcodes), details edited in place, retry when it
 * failed, delete (the page asks first), and its downloads, captions and quality folded below.
 */
export function MyVideoItem({
  video,
  onChange,
  onDelete,
}: {
  video: Video;
  onChange: (video: Video) => void;
  onDelete: (video: Video) => void;
}) {
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [run, setRun] = useState(0);
  const playable = video.status === "ready" || Boolean(video.playback.hls);
  const live = video.status === "queued" || video.status === "processing";
  const duration = formatDuration(video.durationSeconds);
  const headingId = `video-${video.id}`;

  const act = async (action: () => Promise<Video>) => {
    setBusy(true);
    setError(null);
    try {
      onChange(await action());
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };
  const refresh = () =>
    void act(() => call(api.GET("/v1/videos/{id}", { params: { path: { id: video.id } } })));
  const retry = () =>
    void act(async () => {
      const answer = await call(api.POST("/v1/videos/{id}/retry", { params: { path: { id: video.id } } }));
      setRun((n) => n + 1);
      return answer.video;
    });

  return (
    <li class="my-video" aria-labelledby={headingId}>
      <div class="thumb my-video-thumb">
        {video.playback.poster ? (
          <img src={video.playback.poster} alt="" loading="lazy" width={320} height={180} />
        ) : (
          <div class="thumb-placeholder" aria-hidden="true" />
        )}
        {duration && <span class="duration">{duration}</span>}
      </div>
      <div class="my-video-body">
        <h2 class="my-video-title" id={headingId}>
          {playable ? <a href={`/watch/${video.id}`}>{video.title}</a> : video.title}
        </h2>
        <p class="my-video-meta">
          <span class={`status status-${video.status}`}>{STATUS[video.status]}</span>{" "}
          <span>{VISIBILITY[video.visibility]}</span> · <span>{formatAgo(video.createdAt)}</span>
        </p>
        {live && (
          <TranscodeProgress
            key={`${video.id}-${run}`}
            videoId={video.id}
            video={video}
            onTerminal={refresh}
          />
        )}
        {video.status === "failed" && (
          <p class="notice notice-error">
            Transcoding failed{video.failureReason ? `: ${video.failureReason}` : "."}
          </p>
        )}
        {video.status === "awaiting_upload" && (
          <p class="help my-video-help">
            Its file has not finished uploading: <a href="/upload">resume it on the upload page</a> in the
            browser you started it in, or delete it.
          </p>
        )}
        {editing ? (
          <EditForm
            video={video}
            onCancel={() => setEditing(false)}
            onSaved={(saved) => {
              setEditing(false);
              onChange(saved);
            }}
          />
        ) : (
          <div class="my-video-actions">
            <button type="button" class="button" onClick={() => setEditing(true)}>
              Edit<span class="visually-hidden"> “{video.title}”</span>
            </button>
            {video.status === "failed" && (
              <button type="button" class="button" disabled={busy} onClick={retry}>
                Retry<span class="visually-hidden"> “{video.title}”</span>
              </button>
            )}
            <button type="button" class="button danger" onClick={() => onDelete(video)}>
              Delete<span class="visually-hidden"> “{video.title}”</span>
            </button>
          </div>
        )}
        {error ? <ErrorNotice error={error} /> : null}
        {video.status !== "awaiting_upload" && <DeliveryPanel video={video} onChange={onChange} />}
      </div>
    </li>
  );
}

/** Title, description and visibility, saved with PATCH /v1/videos/:id. */
function EditForm({
  video,
  onSaved,
  onCancel,
}: {
  video: Video;
  onSaved: (video: Video) => void;
  onCancel: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const id = `edit-${video.id}`;
  const first = useRef<HTMLInputElement>(null);
  // The form opens on request: typing starts in its first field.
  useEffect(() => first.current?.focus(), []);
  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget as HTMLFormElement);
    const title = String(data.get("title") ?? "").trim();
    const description = String(data.get("description") ?? "").trim();
    if (!title) {
      setError(new Error("a video needs a title"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const saved = await call(
        api.PATCH("/v1/videos/{id}", {
          params: { path: { id: video.id } },
          body: {
            title,
            description: description || null,
            visibility: String(data.get("visibility")) as Video["visibility"],
          },
        }),
      );
      onSaved(saved);
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };
  return (
    <form class="form my-video-edit" onSubmit={(e) => void submit(e)} aria-label={`Edit “${video.title}”`}>
      <label for={`${id}-title`}>
        Title
        <input
          id={`${id}-title`}
          name="title"
          required
          maxLength={MAX_TITLE}
          defaultValue={video.title}
          ref={first}
        />
      </label>
      <label for={`${id}-description`}>
        Description
        <textarea
          id={`${id}-description`}
          name="description"
          maxLength={5000}
          defaultValue={video.description ?? ""}
        />
      </label>
      <label for={`${id}-visibility`}>
        Visibility
        <select id={`${id}-visibility`} name="visibility" defaultValue={video.visibility}>
          <option value="public">Public</option>
          <option value="unlisted">Unlisted: only with the link</option>
          <option value="private">Private: only you</option>
        </select>
      </label>
      {error ? <ErrorNotice error={error} /> : null}
      <div class="my-video-actions">
        <button type="submit" class="button primary" disabled={busy}>
          {busy ? "Saving…" : "Save"}
        </button>
        <button type="button" class="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
