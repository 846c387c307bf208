import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { SEGMENT_FILE } from "@streamlet/shared";

/** Counts the finished media segments in a variant folder (0 while the folder doesn't exist yet). */
export async function countSegments(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).filter((name) => SEGMENT_FILE.test(name)).length;
  } catch {
    return 0;
  }
}

/**
 * Polls each rung's folder while ffmpeg runs and reports its segment count when it changes. FFmpeg's
 * fMP4 HLS muxer writes a segment file in one go when the segment is complete (and, for a VOD playlist,
 * the playlists only at the end), so the count of files on disk is the rung's real progress.
 */
export function watchSegments(
  outDir: string,
  names: string[],
  onCount: (name: string, segments: number) => void,
  intervalMs = 500,
): { stop(): void } {
  const last = new Map<string, number>();
  let busy = false;
  const poll = async () => {
    if (busy) return;
    busy = true;
    try {
      for (const name of names) {
        const count = await countSegments(join(outDir, name));
        if (count !== (last.get(name) ?? 0)) {
          last.set(name, count);
          onCount(name, count);
        }
      }
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void poll(), intervalMs);
  return { stop: () => clearInterval(timer) };
}
