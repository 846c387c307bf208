import { DEFAULT_LADDER, type Ladder } from "@streamlet/shared";
import type { MediaFacts } from "./probe.ts";
import { type Rational, reduce, toNumber } from "./rational.ts";

/** One rung as it will be encoded. */
export interface PlannedRung {
  /** Folder name and rendition name, e.g. "1080p": the rung's short side. */
  name: string;
  width: number;
  height: number;
  /** Target average bitrate (bits/s). */
  videoBitrate: number;
  /** VBV peak rate (bits/s). */
  maxBitrate: number;
  /** VBV buffer size (bits). */
  bufsize: number;
}

export interface LadderPlan {
  /** Tallest first. */
  rungs: PlannedRung[];
  /** Constant output frame rate shared by every rung. */
  fps: Rational;
}

/** Highest output frame rate; faster sources are divided down (120 → 60, 100 → 50). */
export const MAX_FPS = 60;
/** Rates a variable-frame-rate source is snapped to. */
const VFR_TARGETS = [24, 25, 30, 50, 60];
/** An in-between source this close above a rung (730p vs 720p) is encoded at that rung instead. */
export const NEAR_RUNG_TOLERANCE = 0.05;
/** VBV buffer in seconds of peak rate. */
const BUFSIZE_SECONDS = 2;

const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);
const evenDown = (n: number) => Math.max(2, Math.floor(n / 2) * 2);

/** Picks one constant output rate so keyframes (and so segments) land at the same times in every rung. */
export function planFrameRate(facts: Pick<MediaFacts, "frameRate" | "variableFrameRate">): Rational {
  const source = toNumber(facts.frameRate);
  if (facts.variableFrameRate) {
    const nearest = VFR_TARGETS.reduce((a, b) => (Math.abs(b - source) < Math.abs(a - source) ? b : a));
    return { num: nearest, den: 1 };
  }
  if (source <= MAX_FPS) return reduce(facts.frameRate);
  const divisor = Math.ceil(source / MAX_FPS);
  return reduce({ num: facts.frameRate.num, den: facts.frameRate.den * divisor });
}

function dimensions(facts: Pick<MediaFacts, "width" | "height">, shortSide: number) {
  const portrait = facts.height > facts.width;
  if (portrait) return { width: shortSide, height: even((facts.height * shortSide) / facts.width) };
  return { width: even((facts.width * shortSide) / facts.height), height: shortSide };
}

/**
 * Plans the ladder from probed facts: never upscale, keep an in-between source size as the top rung,
 * scale the short side (width for portrait) and keep every dimension even for yuv420p.
 */
export function planLadder(
  facts: Pick<MediaFacts, "width" | "height" | "frameRate" | "variableFrameRate">,
  ladder: Ladder = DEFAULT_LADDER,
): LadderPlan {
  const sorted = [...ladder].sort((a, b) => b.height - a.height);
  const sourceShort = Math.min(facts.width, facts.height);
  const kept = sorted.filter((r) => r.height <= sourceShort);
  const targets: { short: number; videoBitrate: number; maxBitrate: number }[] = kept.map((r) => ({
    short: evenDown(r.height),
    videoBitrate: r.videoBitrate,
    maxBitrate: r.maxBitrate,
  }));

  const top = evenDown(sourceShort);
  const below = kept[0];
  const above = sorted.filter((r) => r.height > sourceShort).at(-1);
  // Only a source with a rung above it is "in between"; a 4K source simply starts at the tallest rung.
  const isBetween = above !== undefined && (below === undefined || top > evenDown(below.height));
  const nearBelow = below !== undefined && sourceShort <= below.height * (1 + NEAR_RUNG_TOLERANCE);
  if (isBetween && !nearBelow) {
    // Scale the budget from the next rung down (or the lowest rung) by pixel count; never above the rung above.
    const reference = below ?? sorted.at(-1);
    if (reference) {
      const factor = (top / reference.height) ** 2;
      const cap = (value: number, limit: number | undefined) =>
        Math.round(limit === undefined ? value : Math.min(value, limit));
      targets.unshift({
        short: top,
        videoBitrate: cap(reference.videoBitrate * factor, above?.videoBitrate),
        maxBitrate: cap(reference.maxBitrate * factor, above?.maxBitrate),
      });
    }
  }

  const seen = new Map<string, number>();
  const rungs = targets.map((t) => {
    const base = `${t.short}p`;
    const count = (seen.get(base) ?? 0) + 1;
    seen.set(base, count);
    return {
      name: count === 1 ? base : `${base}-${count}`,
      ...dimensions(facts, t.short),
      videoBitrate: t.videoBitrate,
      maxBitrate: t.maxBitrate,
      bufsize: t.maxBitrate * BUFSIZE_SECONDS,
    };
  });
  return { rungs, fps: planFrameRate(facts) };
}
