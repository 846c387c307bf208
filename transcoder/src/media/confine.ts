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
 * The protocols ffmpeg may use for a source: the local file, or the presigned storage URL the
 * transcoder made itself (storage.presignGet) when a run must start before the download ends. The URL's
 * scheme decides (HTTPS: https over tls over tcp; plain HTTP, a local S3 server: http over tcp); no
 * other scheme is ever a source. Nothing in an accepted container opens another URL (the format list
 * below), so the network reaches only the object named here.
 */
export function sourceProtocols(input: string): string[] {
  if (/^https:\/\//i.test(input)) return ["https", "tls", "tcp"];
  if (/^http:\/\//i.test(input)) return ["http", "tcp"];
  if (/^[a-z][\w+.-]*:/i.test(input))
    throw new Error(`a source is a local file or an http(s) URL, not ${input.split(":")[0]}:`);
  return ["file"];
}

/**
 * For a source read over HTTP: reconnect after a dropped connection or a network error (a range
 * request resumes where it stopped), and give up on a read silent for 30 s instead of hanging.
 */
const HTTP_INPUT_ARGS = [
  "-reconnect",
  "1",
  "-reconnect_on_network_error",
  "1",
  "-reconnect_delay_max",
  "5",
  "-rw_timeout",
  "30000000",
];

/**
 * Input options for every ffmpeg/ffprobe run that reads an upload: only the protocols of the source
 * itself (sourceProtocols: the local file, or our own presigned URL; never crypto, concat, subfile…)
 * and only the accepted demuxers, so a manifest or script disguised as a video can never make ffmpeg
 * open another file or a URL. `maxPixels` (decoding runs only: ffprobe would report a 0x0 picture
 * instead of the real size) bounds each decoded frame, so a stream that changes size mid-way cannot
 * outgrow the probed limits. Pass `input` when it may be a URL; a local file when absent.
 */
export function sourceInputArgs(maxPixels?: number, input = ""): string[] {
  const protocols = sourceProtocols(input);
  return [
    "-protocol_whitelist",
    protocols.join(","),
    "-format_whitelist",
    ACCEPTED_FORMATS.join(","),
    ...(protocols[0] === "file" ? [] : HTTP_INPUT_ARGS),
    // ffmpeg's TLS does not check the server's certificate unless told: check it against the system's CAs.
    ...(protocols[0] === "https" ? ["-tls_verify", "1"] : []),
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
