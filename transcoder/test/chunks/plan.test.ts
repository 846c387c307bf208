import { describe, expect, it } from "vitest";
import { type ChunkPlan, keyframeFrame, planChunks } from "../../src/media/chunks/plan.ts";
import type { Rational } from "../../src/media/rational.ts";

const NTSC: Rational = { num: 30000, den: 1001 };
const FILM: Rational = { num: 24000, den: 1001 };

/** What every plan must satisfy, whatever its inputs. */
function checkInvariants(plan: ChunkPlan) {
  const { fps, segments, chunks, keyframes, totalFrames } = plan;
  // Segments: numbered from 1, contiguous, no frame missing or doubled.
  let next = 0;
  segments.forEach((s, i) => {
    expect(s.index).toBe(i + 1);
    expect(s.startFrame).toBe(next);
    expect(s.frameCount).toBeGreaterThan(0);
    expect(s.startSeconds).toBeCloseTo((s.startFrame * fps.den) / fps.num, 9);
    expect(s.durationSeconds).toBeCloseTo((s.frameCount * fps.den) / fps.num, 9);
    // Every segment starts on a keyframe the encoder forces.
    expect(keyframes).toContain(s.startFrame);
    next += s.frameCount;
  });
  expect(next).toBe(totalFrames);
  // Keyframes: the first frame at or after 0 s, 1 s (the end of the 1-s first segment), then every
  // 2 s, checked here with plain division as a second opinion.
  const expected: number[] = [];
  for (let i = 0; ; i++) {
    const t = i < 2 ? i : 2 * (i - 1);
    let k = Math.floor((t * fps.num) / fps.den);
    if (k * fps.den < t * fps.num) k += 1;
    if (k >= totalFrames) break;
    if (k !== expected.at(-1)) expected.push(k);
  }
  expect(keyframes).toEqual(expected);
  // Chunks: contiguous runs of whole segments, each starting on a keyframe.
  let frame = 0;
  let segment = 1;
  let fragment = 1;
  chunks.forEach((c, i) => {
    expect(c.index).toBe(i + 1);
    expect(c.firstSegment).toBe(segment);
    expect(c.startFrame).toBe(frame);
    const own = segments.slice(c.firstSegment - 1, c.firstSegment - 1 + c.segmentCount);
    expect(own).toHaveLength(c.segmentCount);
    expect(c.frameCount).toBe(own.reduce((n, s) => n + s.frameCount, 0));
    expect(c.keyframes[0]).toBe(0);
    expect(c.keyframes.map((k) => k + c.startFrame)).toEqual(
      keyframes.filter((k) => k >= c.startFrame && k < c.startFrame + c.frameCount),
    );
    expect(c.firstFragment).toBe(fragment);
    fragment += c.keyframes.length;
    segment += c.segmentCount;
    frame += c.frameCount;
  });
  expect(frame).toBe(totalFrames);
  expect(segment).toBe(segments.length + 1);
}

describe("planChunks", () => {
  const cases: {
    name: string;
    duration: number;
    fps: Rational;
    chunkSeconds?: number;
    segmentFrames: number[];
    chunkSegments: number[];
  }[] = [
    {
      name: "1 s is one chunk of one segment",
      duration: 1,
      fps: { num: 30, den: 1 },
      segmentFrames: [30],
      chunkSegments: [1],
    },
    {
      name: "3 s: the opening cut short",
      duration: 3,
      fps: { num: 30, den: 1 },
      segmentFrames: [30, 30, 30],
      chunkSegments: [1, 2],
    },
    {
      name: "6 s exactly: the whole opening",
      duration: 6,
      fps: { num: 25, den: 1 },
      segmentFrames: [25, 25, 50, 50],
      chunkSegments: [1, 3],
    },
    {
      name: "20 s at 30: short last segment, 12 s chunks",
      duration: 20,
      fps: { num: 30, den: 1 },
      chunkSeconds: 12,
      segmentFrames: [30, 30, 60, 60, 180, 180, 60],
      chunkSegments: [1, 3, 1, 1, 1],
    },
    {
      name: "61.5 s at 30: default 24 s chunks",
      duration: 61.5,
      fps: { num: 30, den: 1 },
      segmentFrames: [30, 30, 60, 60, ...Array(9).fill(180), 45],
      // The tail shrinks: a quarter of what is left each time (TAIL_SHARES), never under a segment.
      chunkSegments: [1, 3, 3, 2, 1, 1, 1, 1, 1],
    },
    {
      // 900 frames; keyframes at 30 (29.97, the 1-s one), then ceil(59.94 n): 60, 120, 180 (179.82),
      // 360 (359.64), 540, 720, 900 (899.1).
      name: "30.03 s at 30000/1001: frame-exact, no drift",
      duration: 30.03,
      fps: NTSC,
      segmentFrames: [30, 30, 60, 60, 180, 180, 180, 180],
      chunkSegments: [1, 3, 1, 1, 1, 1],
    },
    {
      // 1001 frames: keyframe 17 is frame 1019 (1018.98), so the tail after frame 900 (keyframe 15, 899.1) is 101.
      name: "33.4 s at 30000/1001: short tail segment",
      duration: 33.4,
      fps: NTSC,
      segmentFrames: [30, 30, 60, 60, 180, 180, 180, 180, 101],
      chunkSegments: [1, 3, 1, 1, 1, 1, 1],
    },
    {
      // 240 frames; keyframes at 24 (23.98), then ceil(47.952 n): 48, 96, 144 (143.86), then the 96-frame tail.
      name: "10.01 s at 24000/1001",
      duration: 10.01,
      fps: FILM,
      segmentFrames: [24, 24, 48, 48, 96],
      chunkSegments: [1, 3, 1],
    },
  ];

  it.each(cases)("$name", ({ duration, fps, chunkSeconds, segmentFrames, chunkSegments }) => {
    const plan = planChunks({ durationSeconds: duration, fps, chunkSeconds });
    checkInvariants(plan);
    expect(plan.segments.map((s) => s.frameCount)).toEqual(segmentFrames);
    expect(plan.chunks.map((c) => c.segmentCount)).toEqual(chunkSegments);
  });

  it("opens small: segment 1 (1 s) is chunk 1, then 1, 2 and 2-s segments to 6 s", () => {
    const plan = planChunks({ durationSeconds: 600, fps: NTSC });
    checkInvariants(plan);
    expect(plan.chunks[0]).toMatchObject({ firstSegment: 1, segmentCount: 1, startFrame: 0, frameCount: 30 });
    expect(plan.chunks[1]).toMatchObject({
      firstSegment: 2,
      segmentCount: 3,
      startFrame: 30,
      frameCount: 150,
    });
    expect(plan.segments.slice(0, 5).map((s) => s.durationSeconds.toFixed(3))).toEqual([
      "1.001",
      "1.001",
      "2.002",
      "2.002",
      "6.006",
    ]);
    // No drift: segment 100 starts at keyframe 3 + 3 x 95 = 288 (576 s), frame ceil(576 x 30000/1001).
    const s100 = plan.segments[99];
    expect(s100?.startFrame).toBe(keyframeFrame(288, NTSC));
    expect(s100?.startFrame).toBe(17263);
    expect(plan.chunks[2]?.segmentCount).toBe(4);
  });

  it("never lets a segment run past the target by more than a frame", () => {
    for (const fps of [NTSC, FILM, { num: 25, den: 1 }, { num: 60000, den: 1001 }, { num: 50, den: 1 }]) {
      const plan = planChunks({ durationSeconds: 3600, fps, chunkSeconds: 30 });
      checkInvariants(plan);
      const frame = fps.den / fps.num;
      for (const s of plan.segments) expect(s.durationSeconds).toBeLessThanOrEqual(6 + frame + 1e-9);
      // Later chunks: chunkSeconds (5 segments) while much is left, then shrinking to one segment.
      const later = plan.chunks.slice(2).map((c) => c.segmentCount);
      expect(later.slice(0, 100).every((n) => n === 5)).toBe(true);
      expect(later.every((n, i) => i === 0 || n <= (later[i - 1] as number))).toBe(true);
      expect(later.slice(-4)).toEqual([1, 1, 1, 1]);
    }
  });

  it("takes an exact frame count over the duration", () => {
    const plan = planChunks({ durationSeconds: 999, totalFrames: 100, fps: { num: 30, den: 1 } });
    checkInvariants(plan);
    expect(plan.segments.map((s) => s.frameCount)).toEqual([30, 30, 40]);
  });

  it("joins a last segment under a second to the one before it (players skip a sliver and stall)", () => {
    // 12 s + 1 frame: the opening's 1, 1, 2, 2-s segments, a 6-s one, and the lone frame inside it.
    const oneFrameOver = planChunks({ durationSeconds: 999, totalFrames: 361, fps: { num: 30, den: 1 } });
    checkInvariants(oneFrameOver);
    expect(oneFrameOver.segments.map((s) => s.frameCount)).toEqual([30, 30, 60, 60, 181]);
    expect(oneFrameOver.segments.at(-1)?.durationSeconds).toBeCloseTo(6 + 1 / 30, 9);
    // 1 s + 1 frame: one segment of the whole video.
    const short = planChunks({ durationSeconds: 999, totalFrames: 31, fps: { num: 30, den: 1 } });
    expect(short.segments.map((s) => s.frameCount)).toEqual([31]);
    // A second or more stays its own segment.
    const second = planChunks({ durationSeconds: 999, totalFrames: 390, fps: { num: 30, den: 1 } });
    expect(second.segments.map((s) => s.frameCount)).toEqual([30, 30, 60, 60, 180, 30]);
  });

  it("rejects nonsense", () => {
    expect(() => planChunks({ durationSeconds: 0, fps: NTSC })).toThrow(/duration/);
    expect(() => planChunks({ durationSeconds: Number.NaN, fps: NTSC })).toThrow(/duration/);
    expect(() => planChunks({ durationSeconds: 5, fps: { num: 0, den: 1 } })).toThrow(/frame rate/);
    expect(() => planChunks({ durationSeconds: 5, fps: NTSC, chunkSeconds: -1 })).toThrow(/chunkSeconds/);
  });
});
