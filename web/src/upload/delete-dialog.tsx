import { useEffect, useRef, useState } from "preact/hooks";
import { ErrorNotice } from "../components/notice.tsx";
import { api, call } from "../lib/api.ts";
import type { Video } from "../lib/api-types.ts";

/**
 * "Delete this video?" as a modal <dialog>: Escape or Cancel keeps it, "Delete video" deletes it
 * (DELETE /v1/videos/:id). Focus starts on Cancel and goes back where it was when the dialog closes.
 */
export function DeleteDialog({
  video,
  onClose,
  onDeleted,
}: {
  /** The video to ask about; null keeps the dialog closed. */
  video: Video | null;
  onClose: () => void;
  onDeleted: (video: Video) => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  const cancel = useRef<HTMLButtonElement>(null);
  const returnTo = useRef<HTMLElement | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const element = dialog.current;
    if (!element) return;
    if (video && !element.open) {
      returnTo.current = document.activeElement as HTMLElement | null;
      setError(null);
      element.showModal();
      cancel.current?.focus();
    } else if (!video && element.open) {
      element.close();
    }
  }, [video]);

  const onDialogClose = () => {
    // Back to the button that opened it; when that went with the deleted video, to the page's heading
    // (focus moved while the modal was open would not stick: everything outside it is inert).
    if (returnTo.current?.isConnected) returnTo.current.focus();
    else document.querySelector<HTMLElement>("main h1")?.focus();
    returnTo.current = null;
    onClose();
  };

  const confirm = async () => {
    if (!video) return;
    setBusy(true);
    setError(null);
    try {
      await call(api.DELETE("/v1/videos/{id}", { params: { path: { id: video.id } } }));
      returnTo.current = null;
      onDeleted(video);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <dialog
      ref={dialog}
      class="confirm-dialog"
      aria-labelledby="delete-dialog-title"
      aria-describedby="delete-dialog-text"
      onClose={onDialogClose}
    >
      <h2 id="delete-dialog-title">Delete “{video?.title}”?</h2>
      <p id="delete-dialog-text">
        The video, its renditions, views and comments are removed for good. This cannot be undone.
      </p>
      {error ? <ErrorNotice error={error} /> : null}
      <div class="confirm-dialog-actions">
        <button type="button" class="button" ref={cancel} onClick={() => dialog.current?.close()}>
          Cancel
        </button>
        <button type="button" class="button danger" disabled={busy} onClick={() => void confirm()}>
          {busy ? "Deleting…" : "Delete video"}
        </button>
      </div>
    </dialog>
  );
}
