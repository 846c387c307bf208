/** The upload itself is unusable (no retry); `message` is written for the person who uploaded it. */
export class BadMediaError extends Error {
  override name = "BadMediaError";
}
