import { useEffect, useState } from "preact/hooks";
import { ErrorNotice } from "../components/notice.tsx";
import type { Video } from "../lib/api-types.ts";
import { setDownloadsEnabled } from "../lib/delivery-api.ts";
import { CaptionsEditor } from "./captions-editor.tsx";
import { formatPsnr, formatSsim, framesCompared, measuredRungs } from "./delivery.ts";

/**
 * What viewers get besides the stream, for the owner: whether they may download the MP4, the caption
 * tracks, and how close each rung came out to the source. Folded away until asked for.
 */
export function DeliveryPanel({ video, onChange }: { video: Video; onChange: (video: Video) => void }) {
  const rungs = measuredRungs(video.renditions);
  return (
    <details class="my-video-delivery">
      <summary>
        Downloads, captions{rungs ? " and quality" : ""}
        <span class="visually-hidden"> of “{video.title}”</span>
      </summary>
      <DownloadsToggle video={video} onChange={onChange} />
      <CaptionsEditor video={video} onChange={onChange} />
      {rungs && <QualityTable rungs={rungs} />}
    </details>
  );
}

/** The owner's downloads setting (PATCH /v1/videos/:id `downloadsEnabled`), said in words as well. */
function DownloadsToggle({ video, onChange }: { video: Video; onChange: (video: Video) => void }) {
  const [enabled, setEnabled] = useState(video.downloadsEnabled);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const id = `downloads-${video.id}`;
  // The video may change from outside (a refresh after transcoding): follow it.
  useEffect(() => setEnabled(video.downloadsEnabled), [video.downloadsEnabled]);

  const toggle = async (next: boolean) => {
    setEnabled(next);
    setBusy(true);
    setError(null);
    try {
      const saved = await setDownloadsEnabled(video.id, next);
      setEnabled(saved.downloadsEnabled);
      onChange(saved);
    } catch (caught) {
      setEnabled(!next);
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="delivery-section">
      <label class="inline delivery-toggle" for={id}>
        <input
          id={id}
          type="checkbox"
          checked={enabled}
          aria-describedby={`${id}-state`}
          onClick={(event) => {
            // Kept focusable while saving (disabled would drop the focus); a second click waits.
            if (busy) event.preventDefault();
          }}
          onChange={(event) => void toggle(event.currentTarget.checked)}
        />
        Downloads
      </label>
      <p class="help delivery-state" id={`${id}-state`}>
        {enabled
          ? "On: anyone who can watch this video can download it as an MP4."
          : "Off: only you can download this video."}
        {busy ? " Saving…" : ""}
      </p>
      {error ? <ErrorNotice error={error} /> : null}
    </div>
  );
}

/** SSIM and PSNR of each measured rung, against the source scaled to the rung's size. */
function QualityTable({ rungs }: { rungs: NonNullable<ReturnType<typeof measuredRungs>> }) {
  return (
    <div class="delivery-section">
      {/* Scrolls on its own rather than widening the page on a narrow phone. */}
      <div class="quality-scroll">
        <table class="quality-table">
          <caption>Quality of each rendition compared with the source</caption>
          <thead>
            <tr>
              <th scope="col">Rendition</th>
              <th scope="col">Size</th>
              <th scope="col">SSIM</th>
              <th scope="col">PSNR</th>
            </tr>
          </thead>
          <tbody>
            {rungs.map((rung) => (
              <tr key={rung.name}>
                <th scope="row">{rung.name}</th>
                <td>
                  {rung.width}×{rung.height}
                </td>
                <td>{formatSsim(rung.quality.ssim)}</td>
                <td>{formatPsnr(rung.quality.psnr)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="help delivery-state">
        Measured on {framesCompared(rungs)}. SSIM runs from 0 to 1 (1: identical); a higher PSNR is closer to
        the source.
      </p>
    </div>
  );
}
