import { useState } from "preact/hooks";
import { requestDownload } from "../lib/delivery-api.ts";
import { downloadErrorMessage } from "./download.ts";

/**
 * "Download": asks the edge for a short-lived URL of the MP4, then follows it; the file comes as an
 * attachment, so the page (and its player) stays. Refusals are said next to the button.
 */
export function DownloadButton({ videoId, title }: { videoId: string; title: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const download = async () => {
    if (busy) return;
    setBusy(true);
    setError(null);
    try {
      const ticket = await requestDownload(videoId);
      const link = document.createElement("a");
      link.href = ticket.url;
      link.download = ticket.fileName;
      document.body.append(link);
      link.click();
      link.remove();
    } catch (caught) {
      setError(downloadErrorMessage(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="download">
      <button
        type="button"
        class="button"
        // aria-disabled, not disabled: a disabled button drops the keyboard focus it has.
        aria-disabled={busy}
        onClick={() => void download()}
      >
        <DownloadIcon />
        {busy ? "Preparing…" : "Download"}
        <span class="visually-hidden"> “{title}”</span>
      </button>
      {error && (
        <div class="notice notice-error" role="alert">
          <p>{error}</p>
        </div>
      )}
    </div>
  );
}

function DownloadIcon() {
  return (
    <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
      <path
        fill="currentColor"
        d="M11 4h2v8.17l3.59-3.58L18 10l-6 6-6-6 1.41-1.41L11 12.17V4Zm-6 14h14v2H5v-2Z"
      />
    </svg>
  );
}
