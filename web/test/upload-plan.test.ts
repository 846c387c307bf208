import { describe, expect, it } from "vitest";
import { applyEvent, describeView, initialView } from "../src/progress/progress-view.ts";
import { filePhase, partBatch, sourceUploadFor, titleFromFileName, toUppyParts } from "../src/upload/plan.ts";

describe("upload plan", () => {
  it("titles a file after its name", () => {
    expect(titleFromFileName("holiday_2024.mp4")).toBe("holiday 2024");
    expect(titleFromFileName("  My  clip.final.mov")).toBe("My clip.final");
    expect(titleFromFileName(".mp4")).toBe(".mp4");
    expect(titleFromFileName(`${"a".repeat(300)}.mkv`)).toHaveLength(200);
  });

  it("tells the edge the size, a valid type and a one-line file name", () => {
    expect(sourceUploadFor({ size: 10, type: "video/mp4", name: "a.mp4" })).toEqual({
      size: 10,
      contentType: "video/mp4",
      fileName: "a.mp4",
    });
    expect(sourceUploadFor({ size: 10, type: "", name: "line\nbreak.mkv" })).toEqual({
      size: 10,
      fileName: "line break.mkv",
    });
  });

  it("maps stored parts to Uppy's and batches part URLs ahead, never past the last part", () => {
    expect(toUppyParts([{ partNumber: 2, size: 5, etag: '"x"' }])).toEqual([
      { PartNumber: 2, Size: 5, ETag: '"x"' },
    ]);
    expect(partBatch(1, 10, () => false)).toEqual([1, 2, 3, 4]);
    expect(partBatch(3, 4, () => false)).toEqual([3, 4]);
    expect(partBatch(1, 10, (n) => n === 2)).toEqual([1, 3, 4, 5]);
  });

  it("says where a file stands", () => {
    const base = {
      progress: { uploadStarted: null, bytesUploaded: 0 as const, bytesTotal: 100 },
      meta: {},
    };
    expect(filePhase(base)).toEqual({ kind: "draft" });
    expect(filePhase({ ...base, isGhost: true, meta: { videoId: "v" } })).toEqual({ kind: "missing" });
    expect(filePhase({ ...base, progress: { ...base.progress, preprocess: {} } })).toEqual({
      kind: "creating",
    });
    expect(
      filePhase({ ...base, progress: { uploadStarted: 1, bytesUploaded: 40, bytesTotal: 100 } }),
    ).toMatchObject({ kind: "uploading", percent: 40 });
    expect(
      filePhase({ ...base, progress: { ...base.progress, uploadStarted: 1, uploadComplete: true } }),
    ).toEqual({ kind: "confirming" });
    expect(filePhase({ ...base, error: "storage said no" })).toEqual({
      kind: "failed",
      message: "storage said no",
    });
    expect(filePhase({ ...base, error: "late", meta: { confirmed: true } })).toEqual({ kind: "uploaded" });
  });
});

describe("progress view", () => {
  it("folds events into a view: rungs, playable, ready", () => {
    let view = initialView({ status: "queued" });
    view = applyEvent(view, { type: "probing", seq: 1, at: 1 });
    view = applyEvent(view, {
      type: "transcoding",
      seq: 2,
      at: 2,
      percent: 40,
      rungs: [{ name: "360p", height: 360, percent: 40 }],
      fps: null,
      speed: null,
      etaSeconds: 12,
    });
    expect(view).toMatchObject({ phase: "transcoding", percent: 40, playable: false });
    view = applyEvent(view, { type: "playable", seq: 3, at: 3, segmentsPublished: 2, segmentsTotal: 9 });
    expect(describeView(view)).toMatch(/watch it already/);
    view = applyEvent(view, {
      type: "ready",
      seq: 4,
      at: 4,
      durationSeconds: 4,
      sourceWidth: 640,
      sourceHeight: 360,
      renditions: [],
    } as never);
    expect(view).toMatchObject({ phase: "ready", playable: true, percent: 100 });
    expect(view.rungs[0]?.percent).toBe(100);
  });

  it("keeps a failure's reason, and a retry's queued event starts over", () => {
    let view = applyEvent(initialView({ status: "processing", playableAt: "2026-01-01T00:00:00Z" }), {
      type: "failed",
      seq: 5,
      at: 5,
      reason: "no video stream",
    });
    expect(view).toMatchObject({ phase: "failed", failureReason: "no video stream", playable: false });
    view = applyEvent(view, { type: "queued", seq: 1_000_000_000, at: 6 });
    expect(view).toMatchObject({ phase: "queued", failureReason: null, playable: false });
    expect(initialView({ status: "failed", failureReason: "x" }).failureReason).toBe("x");
  });
});
