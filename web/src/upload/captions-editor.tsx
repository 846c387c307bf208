import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorNotice } from "../components/notice.tsx";
import type { Caption, Video } from "../lib/api-types.ts";
import { deleteCaption, putCaption } from "../lib/delivery-api.ts";
import {
  type CaptionFormProblem,
  captionContentType,
  captionFormProblem,
  MAX_CAPTION_LABEL,
  withCaption,
  withoutCaption,
} from "./delivery.ts";

/**
 * The owner's caption tracks: the list (each deleted after a confirmation) and a form that adds one from a
 * WebVTT or SRT file (PUT /v1/videos/:id/captions/:language; the same language again replaces it).
 */
export function CaptionsEditor({ video, onChange }: { video: Video; onChange: (video: Video) => void }) {
  const [notice, setNotice] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  const headingId = `captions-${video.id}`;
  const update = (captions: Caption[], message: string) => {
    onChange({ ...video, captions });
    setNotice(message);
  };
  return (
    <section class="delivery-section" aria-labelledby={headingId}>
      <h3 id={headingId} ref={heading} tabIndex={-1}>
        Captions
      </h3>
      {video.captions.length > 0 ? (
        <ul class="caption-list">
          {video.captions.map((caption) => (
            <CaptionItem
              key={caption.language}
              videoId={video.id}
              caption={caption}
              onDeleted={() => {
                update(
                  withoutCaption(video.captions, caption.language),
                  `Deleted the ${caption.label} captions.`,
                );
                // Its Delete button went with it: the section's heading keeps the focus nearby.
                heading.current?.focus();
              }}
            />
          ))}
        </ul>
      ) : (
        <p class="help delivery-state">No captions yet.</p>
      )}
      <div role="status">{notice && <p class="notice notice-ok">{notice}</p>}</div>
      <AddCaptionForm
        video={video}
        onAdded={(caption) =>
          update(
            withCaption(video.captions, caption),
            `Saved the ${caption.label} captions (${caption.language}).`,
          )
        }
        onStart={() => setNotice(null)}
      />
    </section>
  );
}

/** One track: its label and language, a link to the file, and Delete, which asks first. */
function CaptionItem({
  videoId,
  caption,
  onDeleted,
}: {
  videoId: string;
  caption: Caption;
  onDeleted: () => void;
}) {
  const [confirming, setConfirming] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const remove = useRef<HTMLButtonElement>(null);
  const asked = useRef(false);

  // The question takes the focus when it appears (on Cancel, the safe answer) and gives it back after.
  useEffect(() => {
    if (confirming) cancel.current?.focus();
    else if (asked.current) remove.current?.focus();
    asked.current = confirming;
  }, [confirming]);

  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await deleteCaption(videoId, caption.language);
      onDeleted();
    } catch (caught) {
      setError(caught);
      setBusy(false);
    }
  };

  const name = `${caption.label} (${caption.language})`;
  return (
    <li class="caption-item">
      <span class="caption-name">
        <a href={caption.url} target="_blank" rel="noopener">
          {name}
          <span class="visually-hidden"> captions file (opens in a new tab)</span>
        </a>
      </span>
      {confirming ? (
        // biome-ignore lint/a11y/useSemanticElements: a question with two answers, not a form's fieldset.
        <span class="caption-confirm" role="group" aria-label={`Delete the ${name} captions?`}>
          <span aria-hidden="true">Delete these captions?</span>
          <button type="button" class="button danger" disabled={busy} onClick={() => void confirm()}>
            {busy ? "Deleting…" : "Delete"}
          </button>
          <button type="button" class="button" ref={cancel} onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </span>
      ) : (
        <button type="button" class="button" ref={remove} onClick={() => setConfirming(true)}>
          Delete<span class="visually-hidden"> the {name} captions</span>
        </button>
      )}
      {error ? <ErrorNotice error={error} /> : null}
    </li>
  );
}

/** A caption file, its language and an optional label; checked here first, then by the edge. */
function AddCaptionForm({
  video,
  onAdded,
  onStart,
}: {
  video: Video;
  onAdded: (caption: Caption) => void;
  onStart: () => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [invalid, setInvalid] = useState<CaptionFormProblem["field"] | null>(null);
  const id = `caption-${video.id}`;

  const submit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    const data = new FormData(form);
    const picked = data.get("file");
    const file = picked instanceof File && picked.name ? picked : null;
    const language = String(data.get("language") ?? "").trim();
    const label = String(data.get("label") ?? "").trim();
    onStart();
    const problem = captionFormProblem({ file, language, label });
    setInvalid(problem?.field ?? null);
    if (problem || !file) {
      setError(new Error(problem?.message ?? "Choose a file."));
      // The field to fix takes the focus; the message is announced (role=alert).
      form.querySelector<HTMLInputElement>(`[name="${problem?.field ?? "file"}"]`)?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const caption = await putCaption(video.id, language, await file.text(), {
        label,
        contentType: captionContentType(file.name),
      });
      form.reset();
      onAdded(caption);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="form caption-form"
      noValidate
      aria-label={`Add captions to “${video.title}”`}
      onSubmit={(e) => void submit(e)}
    >
      <label for={`${id}-file`}>
        Captions file (WebVTT or SRT)
        <input
          id={`${id}-file`}
          name="file"
          type="file"
          accept=".vtt,.srt,text/vtt"
          required
          aria-invalid={invalid === "file"}
        />
      </label>
      <label for={`${id}-language`}>
        Language
        <input
          id={`${id}-language`}
          name="language"
          required
          autocomplete="off"
          spellcheck={false}
          aria-invalid={invalid === "language"}
          aria-describedby={`${id}-language-help`}
        />
      </label>
      <p class="help" id={`${id}-language-help`}>
        A language tag such as en, pt-BR or zh-Hant. A language the video already has is replaced.
      </p>
      <label for={`${id}-label`}>
        Label (optional)
        <input
          id={`${id}-label`}
          name="label"
          maxLength={MAX_CAPTION_LABEL}
          aria-invalid={invalid === "label"}
          aria-describedby={`${id}-label-help`}
        />
      </label>
      <p class="help" id={`${id}-label-help`}>
        What the player's captions menu shows; by default, the language's name.
      </p>
      {error ? <ErrorNotice error={error} /> : null}
      <div class="my-video-actions">
        <button type="submit" class="button" disabled={busy}>
          {busy ? "Uploading…" : "Add captions"}
        </button>
      </div>
    </form>
  );
}
