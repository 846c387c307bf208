/**
 * The demuxers an upload may be read with (ffmpeg 5.1 names; `-format_whitelist` matches any one name
 * of a demuxer's comma-separated list, so "mov" admits "mov,mp4,m4a,3gp,3g2,mj2"). Only self-contained
 * containers: nothing here opens other files or URLs named inside the upload (mov's external data
 * references stay off, ffmpeg's default). Left out on purpose: playlists and manifests (hls, dash,
 * concat/ffconcat), image sequences and single images (image2, *_pipe), tty, lavfi, raw elementary
 * streams and everything else.
 */
export const ACCEPTED_FORMATS = [
  "mov",
  "mp4",
  "m4a",
  "3gp",
  "3g2",
  "mj2",
  "matroska",
  "webm",
  "avi",
  "mpegts",
  "flv",
  "mpeg",
  "ogg",
  "asf",
] as const;

/** What the uploader is told they may upload instead. */
const ACCEPTED_IN_WORDS = "MP4, MOV, MKV, WebM, AVI, MPEG-TS, MPEG-PS, FLV, Ogg or WMV/ASF";

/**
 * Input options for every ffmpeg/ffprobe run that reads an upload: only the local file protocol (no
 * http, tcp, crypto, concat, subfile…) and only the accepted demuxers, so a manifest or script
 * disguised as a video can never make ffmpeg open another file or a URL. `maxPixels` (decoding runs
 * only: ffprobe would report a 0x0 picture instead of the real size) bounds each decoded frame, so a
 * stream that changes size mid-way cannot outgrow the probed limits.
 */
export function sourceInputArgs(maxPixels?: number): string[] {
  return [
    "-protocol_whitelist",
    "file",
    "-format_whitelist",
    ACCEPTED_FORMATS.join(","),
    ...(maxPixels !== undefined ? ["-max_pixels", String(Math.floor(maxPixels))] : []),
  ];
}

/** The demuxer ffmpeg refused for not being on the allow-list (it names it on stderr); null if none. */
export function refusedFormat(stderr: string): string | null {
  return /\[([\w,]+) @ 0x[0-9a-f]+\] Format not on whitelist/.exec(stderr)?.[1] ?? null;
}

/** The uploader's reason for a refused container format. */
export function formatNotAccepted(format: string): string {
  return `The uploaded file's container format (${format}) is not accepted: upload an ${ACCEPTED_IN_WORDS} file`;
}
