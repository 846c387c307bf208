import type { PlannedRung } from "../../src/media/ladder.ts";

/** The default ladder's rungs as planned for a 1080p source (fixtures for the argument builder tests). */
export const r1080: PlannedRung = {
  name: "1080p",
  width: 1920,
  height: 1080,
  videoBitrate: 6_000_000,
  maxBitrate: 7_800_000,
  bufsize: 15_600_000,
};
export const r720: PlannedRung = {
  name: "720p",
  width: 1280,
  height: 720,
  videoBitrate: 3_000_000,
  maxBitrate: 4_500_000,
  bufsize: 9_000_000,
};
export const r480: PlannedRung = {
  name: "480p",
  width: 854,
  height: 480,
  videoBitrate: 1_200_000,
  maxBitrate: 1_800_000,
  bufsize: 3_600_000,
};
