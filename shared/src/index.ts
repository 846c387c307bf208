export * from "./api.ts";
export * from "./errors.ts";
export * from "./job.ts";
export * from "./ladder.ts";
export * from "./progress.ts";
export * from "./video.ts";
