import { readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { INIT_SEGMENT, VARIANT_PLAYLIST } from "@streamlet/shared";

/** Points a playlist's EXT-X-MAP at another URI. */
export function rewriteMapUri(playlist: string, uri: string): string {
  return playlist.replace(/^(#EXT-X-MAP:.*URI=")[^"]*(")/m, `$1${uri}$2`);
}

/**
 * Renames the variant's init segment to init.mp4 and fixes EXT-X-MAP, so the stored layout doesn't
 * depend on how this FFmpeg version names init files (5.1: "init_<n>.mp4" unless %v is used).
 */
export async function normalizeInitSegment(variantDir: string): Promise<void> {
  const playlistPath = join(variantDir, VARIANT_PLAYLIST);
  const text = await readFile(playlistPath, "utf8");
  const current = /^#EXT-X-MAP:.*URI="([^"]*)"/m.exec(text)?.[1];
  if (current === undefined || current === INIT_SEGMENT) return;
  if (current.includes("/")) throw new Error(`unexpected init segment path in ${playlistPath}: ${current}`);
  await rename(join(variantDir, current), join(variantDir, INIT_SEGMENT));
  await writeFile(playlistPath, rewriteMapUri(text, INIT_SEGMENT));
}
