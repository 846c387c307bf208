import { join } from "node:path";
import { AUDIO_FOLDER } from "@streamlet/shared";
import { BadMediaError } from "./errors.ts";
import { normalizeInitSegment } from "./hls-layout.ts";
import { measureVariant, parseAvcInit } from "./hls-measure.ts";
import type { LadderPlan } from "./ladder.ts";
import { AAC_LC, type MeasuredAudio, type MeasuredRung } from "./master-playlist.ts";
import type { MediaFacts } from "./probe.ts";
import { toNumber } from "./rational.ts";

/** How short of the probed duration the encode may come before the source counts as truncated. */
export const DURATION_TOLERANCE = 0.1;

/** The encoded ladder as measured from its files: what the master playlist and `ready` are written from. */
export interface VerifiedLadder {
  rungs: MeasuredRung[];
  audio: MeasuredAudio | null;
  /** The longest variant's duration: what was really encoded. */
  encodedSeconds: number;
}

/**
 * Checks what ffmpeg wrote before anything is published, and measures it: every rung has segments and
 * an H.264 init, all rungs cut the same number of segments, audio is there when the source has it, and
 * the encode is not much shorter than the probed duration (a truncated source is bad media). Renames
 * each variant's init segment to the layout's name on the way.
 */
export async function verifyLadder(
  outDir: string,
  plan: LadderPlan,
  facts: Pick<MediaFacts, "hasAudio" | "durationSeconds">,
): Promise<VerifiedLadder> {
  const folders = [...plan.rungs.map((r) => r.name), ...(facts.hasAudio ? [AUDIO_FOLDER] : [])];
  for (const folder of folders) await normalizeInitSegment(join(outDir, folder));
  const frameRate = toNumber(plan.fps);
  const rungs: MeasuredRung[] = [];
  const durations: number[] = [];
  const segmentCounts = new Set<number>();
  for (const rung of plan.rungs) {
    const measured = await measureVariant(join(outDir, rung.name));
    if (measured.stats.segmentCount === 0 || !measured.init)
      throw new Error(`rung ${rung.name} has no segments`);
    const avc = parseAvcInit(measured.init);
    segmentCounts.add(measured.stats.segmentCount);
    durations.push(measured.stats.durationSeconds);
    rungs.push({
      name: rung.name,
      width: avc.width,
      height: avc.height,
      peakBitrate: measured.stats.peakBitrate,
      averageBitrate: measured.stats.averageBitrate,
      codecs: avc.codecs,
      frameRate,
    });
  }
  if (segmentCounts.size > 1)
    throw new Error(`rungs have different segment counts: ${[...segmentCounts].join(", ")}`);
  let audio: MeasuredAudio | null = null;
  if (facts.hasAudio) {
    const measured = await measureVariant(join(outDir, AUDIO_FOLDER));
    if (measured.stats.segmentCount === 0) throw new Error("audio variant has no segments");
    durations.push(measured.stats.durationSeconds);
    audio = { ...measured.stats, codecs: AAC_LC, channels: 2 };
  }
  const encodedSeconds = Math.max(...durations);
  if (encodedSeconds < facts.durationSeconds * (1 - DURATION_TOLERANCE)) {
    throw new BadMediaError(
      `The uploaded file appears truncated: decoded ${encodedSeconds.toFixed(1)} s of ${facts.durationSeconds.toFixed(1)} s`,
    );
  }
  return { rungs, audio, encodedSeconds };
}
