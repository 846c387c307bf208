import { useState } from "preact/hooks";
import { describeError } from "../lib/errors.ts";
import { formatBytes } from "../lib/format.ts";
import { TranscodeProgress } from "../progress/transcode-progress.tsx";
import { filePhase, MAX_TITLE } from "./plan.ts";
import { ACCEPTED_FILES, setVideoMeta, type VideoFile, type VideoMeta, type VideoUppy } from "./uppy.ts";

const VISIBILITIES: { value: VideoMeta["visibility"]; label: string }[] = [
  { value: "public", label: "Public" },
  { value: "unlisted", label: "Unlisted: only with the link" },
  { value: "private", label: "Private: only you" },
];

const VISIBILITY_WORD: Record<VideoMeta["visibility"], string> = {
  public: "Public",
  unlisted: "Unlisted",
  private: "Private",
};

/**
 * One picked file: its details while it waits (title, description, visibility), then its upload's
 * progress, then the video's transcode progress with a link to watch it.
 */
export function FileCard({ uppy, file }: { uppy: VideoUppy; file: VideoFile }) {
  const phase = filePhase(file);
  const { meta } = file;
  const fieldId = fieldIdFor(file.id);
  return (
    <li class="upload-item" aria-labelledby={`${fieldId}-name`}>
      <h3 class="upload-item-name" id={`${fieldId}-name`}>
        {file.name} <span class="upload-item-size">{formatBytes(file.size ?? 0)}</span>
      </h3>
      {phase.kind === "draft" ? (
        <fieldset class="form upload-fields">
          <legend class="visually-hidden">Details of {file.name}</legend>
          <label>
            Title
            <input
              id={`${fieldId}-title`}
              name="title"
              required
              maxLength={MAX_TITLE}
              value={meta.title}
              onInput={(e) => setVideoMeta(uppy, file.id, { title: e.currentTarget.value })}
            />
          </label>
          <label>
            Description
            <textarea
              name="description"
              maxLength={5000}
              value={meta.description}
              onInput={(e) => setVideoMeta(uppy, file.id, { description: e.currentTarget.value })}
            />
          </label>
          <label>
            Visibility
            <select
              name="visibility"
              value={meta.visibility}
              onChange={(e) =>
                setVideoMeta(uppy, file.id, {
                  visibility: e.currentTarget.value as VideoMeta["visibility"],
                })
              }
            >
              {VISIBILITIES.map((v) => (
                <option key={v.value} value={v.value}>
                  {v.label}
                </option>
              ))}
            </select>
          </label>
        </fieldset>
      ) : (
        <p class="upload-item-title">
          <strong>{meta.title}</strong> · {VISIBILITY_WORD[meta.visibility] ?? meta.visibility}
        </p>
      )}
      {phase.kind === "missing" && <Repick uppy={uppy} file={file} />}
      {phase.kind === "creating" && <p role="status">Creating the video…</p>}
      {phase.kind === "uploading" && (
        <div class="meter upload-meter">
          <span id={`${fieldId}-upload`}>Upload</span>
          <progress aria-labelledby={`${fieldId}-upload`} max={100} value={phase.percent} />
          <span class="meter-value">{phase.percent}%</span>
          <span class="upload-bytes">
            {formatBytes(phase.bytesUploaded)} of {formatBytes(phase.bytesTotal)} uploaded
          </span>
        </div>
      )}
      {phase.kind === "confirming" && <p role="status">Finishing the upload…</p>}
      {phase.kind === "failed" && (
        <div class="notice notice-error" role="alert">
          <p>The upload failed: {phase.message}</p>
          <button type="button" class="button" onClick={() => void uppy.retryUpload(file.id).catch(() => {})}>
            Try again
          </button>
        </div>
      )}
      {phase.kind === "uploaded" && meta.videoId && (
        <>
          <p class="upload-done">Uploaded.</p>
          <TranscodeProgress videoId={meta.videoId} />
        </>
      )}
    </li>
  );
}

/** The prefix of the ids of a file's fields (Uppy's file ids hold characters ids should not). */
export function fieldIdFor(fileId: string): string {
  return `upload-${fileId.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/** A file the browser did not keep across the reload: pick it again and its upload resumes. */
function Repick({ uppy, file }: { uppy: VideoUppy; file: VideoFile }) {
  const [error, setError] = useState<string | null>(null);
  const onPick = (event: Event) => {
    const input = event.currentTarget as HTMLInputElement;
    const picked = input.files?.[0];
    input.value = "";
    if (!picked) return;
    setError(null);
    try {
      const added = uppy.addFile({ name: picked.name, type: picked.type, data: picked, source: "Local" });
      if (added !== file.id) {
        uppy.removeFile(added);
        setError(
          `That is not the same file: pick “${file.name}” (${formatBytes(file.size ?? 0)}) as it was when the upload began.`,
        );
      }
    } catch (caught) {
      setError(describeError(caught));
    }
  };
  return (
    <div class="upload-repick">
      <p>
        The browser did not keep this file after the reload. Pick the same file again to resume: only the
        parts not yet uploaded are sent.
      </p>
      <label class="button primary upload-repick-button">
        Choose “{file.name}” again
        <input type="file" class="visually-hidden" accept={ACCEPTED_FILES.join(",")} onChange={onPick} />
      </label>
      {error && (
        <p class="notice notice-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
