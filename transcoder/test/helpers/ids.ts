import { createHash } from "node:crypto";

/**
 * A fixed video id (a canonical UUID) for a readable test name: jobs must carry real ids now, and a
 * test that says `testId("vid_ok")` still says which video it means. Same name, same id.
 */
export function testId(name: string): string {
  const h = createHash("sha256").update(name).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
