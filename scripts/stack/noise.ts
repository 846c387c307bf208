import { createHash } from "node:crypto";

/**
 * Deterministic pseudo-random bytes (SHA-256 in counter mode). Tests use it instead of randomBytes for
 * "garbage" uploads: truly random bytes are now and then taken by ffprobe for some odd format, which made
 * the expected reason flaky.
 */
export function noise(length: number, seed = "streamlet-noise"): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0, block = 0; i < length; block++) {
    const digest = createHash("sha256").update(`${seed}-${block}`).digest();
    out.set(digest.subarray(0, Math.min(digest.length, length - i)), i);
    i += digest.length;
  }
  return out;
}
