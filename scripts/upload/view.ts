import type { ProgressEvent } from "@streamlet/shared";
import type { UploadProgress } from "@streamlet/shared/upload-client";

const MIB = 1024 * 1024;

export type View = ReturnType<typeof progressView>;

/**
 * What the CLI shows while it works, on `out` (stderr): on a terminal, bars redrawn in place (the upload:
 * bytes, MB/s, ETA; then the transcode: stage and one bar per rung); otherwise plain lines, one per part
 * stored and per stage, progress at most once a second.
 */
export function progressView(out: NodeJS.WriteStream) {
  const tty = out.isTTY === true;
  let block: string[] = [];
  let drawn = 0;
  let lastPlainAt = 0;
  let stage = "";
  const stagesSaid = new Set<string>();
  let uploadStarted = 0;

  const redraw = (lines: string[]) => {
    block = lines;
    if (!tty) return;
    if (drawn > 0) out.write(`\x1b[${drawn}F\x1b[J`);
    if (lines.length > 0) out.write(`${lines.join("\n")}\n`);
    drawn = lines.length;
  };
  const plain = (text: string, force: boolean) => {
    if (tty || (!force && Date.now() - lastPlainAt < 1000)) return;
    out.write(`${text}\n`);
    lastPlainAt = Date.now();
  };

  return {
    /** A message line, kept above the bars. */
    say(text: string) {
      const bars = block;
      redraw([]);
      out.write(`${text}\n`);
      redraw(bars);
    },
    /** The upload starts now (its MB/s and ETA count from here). */
    beginUpload() {
      uploadStarted = Date.now();
    },
    upload(p: UploadProgress) {
      uploadStarted ||= Date.now();
      const seconds = (Date.now() - uploadStarted) / 1000;
      const rate = seconds > 0 ? p.sentBytes / seconds : 0;
      const left = p.totalBytes - p.uploadedBytes;
      const eta = rate > 0 && left > 0 ? ` ETA ${Math.ceil(left / rate)} s` : "";
      const figures =
        `${(p.uploadedBytes / MIB).toFixed(1)}/${(p.totalBytes / MIB).toFixed(1)} MiB` +
        `  ${(rate / 1e6).toFixed(1)} MB/s${eta}  part ${p.partsDone}/${p.partCount}`;
      redraw([bar("upload", (100 * p.uploadedBytes) / p.totalBytes, figures)]);
      plain(`uploaded ${figures}`, p.partsDone > 0);
    },
    /** A transcode (or import) progress event from the progress socket. */
    event(e: ProgressEvent) {
      const newStage = e.type !== stage;
      stage = e.type;
      // A stage is named once (transcoding goes on after "playable").
      if (!stagesSaid.has(e.type)) this.say(describe(e));
      stagesSaid.add(e.type);
      if (e.type === "transcoding") {
        const figures = [
          e.chunksTotal ? `chunks ${e.chunksDone ?? 0}/${e.chunksTotal}` : null,
          e.speed !== null ? `${e.speed.toFixed(2)}x realtime` : null,
          e.etaSeconds !== null ? `ETA ${e.etaSeconds.toFixed(0)} s` : null,
        ].filter(Boolean);
        redraw([
          ...e.rungs.map((r) => bar(r.name, r.percent, "")),
          bar("ladder", e.percent, figures.join(", ")),
        ]);
        plain(
          `transcoding ${e.percent.toFixed(0)}%: ${e.rungs.map((r) => `${r.name} ${r.percent.toFixed(0)}%`).join(" ")}`,
          newStage,
        );
      } else if (e.type === "downloading" || e.type === "uploading") {
        redraw([bar(e.type === "downloading" ? "source" : "publish", e.percent, "")]);
        plain(`${e.type} ${e.percent.toFixed(0)}%`, newStage);
      } else if (e.type === "ready" || e.type === "failed") {
        redraw([]);
      }
    },
    /** Removes the bars (before the final lines). */
    clear() {
      redraw([]);
    },
  };
}

function bar(label: string, percent: number, figures: string): string {
  const clamped = Math.max(0, Math.min(100, percent));
  const filled = Math.round(clamped / 4);
  return `  ${label.padEnd(8)} [${"#".repeat(filled)}${"-".repeat(25 - filled)}] ${clamped.toFixed(0).padStart(3)}%  ${figures}`.trimEnd();
}

/** One line for the event that opens a stage. */
function describe(e: ProgressEvent): string {
  switch (e.type) {
    case "queued":
      return "queued for transcoding";
    case "downloading":
      return "the transcoder is fetching the source";
    case "probing":
      return "probing the source";
    case "transcoding":
      return `transcoding ${e.rungs.map((r) => r.name).join(" + ")}${e.chunksTotal ? ` in ${e.chunksTotal} chunks` : ""}`;
    case "playable":
      return `playable while processing (${e.segmentsPublished} of ${e.segmentsTotal} segments published)`;
    case "uploading":
      return `publishing ${e.totalFiles} files`;
    case "ready":
      return `ready: ${e.renditions.map((r) => r.name).join(", ")}, ${e.durationSeconds} s of video`;
    case "failed":
      return `failed: ${e.reason}`;
  }
}
