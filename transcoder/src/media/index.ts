/**
 * The transcoder's media core: probe a source, plan its ladder, build FFmpeg's arguments, run FFmpeg
 * (only through run-ffmpeg.ts), measure and verify the HLS it wrote, write the master playlist and the
 * poster. Pure of the node's lifecycle: nothing here knows about config, storage, queues, metrics or
 * progress sockets, so the worker, the benchmarks and the tests all use it the same way
 * (`@streamlet/transcoder/media`).
 */
export * from "./audio.ts";
export * from "./chunks/index.ts";
export * from "./confine.ts";
// What deliver.ts makes from the published ladder before the master (the checks, I-frames, DASH, storyboard,
// download MP4, quality).
export { readDashTrack, writeDashManifest } from "./delivery/dash.ts";
export { remuxDownload } from "./delivery/download.ts";
export { iframePlaylist } from "./delivery/iframes.ts";
export { measureQuality } from "./delivery/quality.ts";
export { makeStoryboard } from "./delivery/storyboard.ts";
export type { DeliveryToolOptions, LocalLadder, LocalRung, LocalTrack } from "./delivery/types.ts";
export { PublishCheckError, verifyPublishedLadder } from "./delivery/verify.ts";
export * from "./encoder.ts";
export * from "./encoder-probe.ts";
export * from "./errors.ts";
export * from "./ffmpeg-args.ts";
export * from "./hls-layout.ts";
export * from "./hls-measure.ts";
export * from "./ladder.ts";
export * from "./limits.ts";
export * from "./master-playlist.ts";
export * from "./playlists.ts";
export * from "./poster.ts";
export * from "./probe.ts";
export * from "./rational.ts";
export * from "./run-ffmpeg.ts";
export * from "./segment-watch.ts";
export * from "./tools.ts";
export * from "./verify-ladder.ts";
