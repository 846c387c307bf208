/** Chunked encoding: plan keyframe-aligned chunks, encode one chunk of every rung, write final fMP4 segments. */
export * from "./encode-chunk.ts";
export * from "./fmp4.ts";
export * from "./plan.ts";
