import { describe, expect, it } from "vitest";
import { createJobProgress } from "../src/job-progress.ts";
import { createLogger } from "../src/log.ts";
import type { ProgressPublisher, ProgressUpdate } from "../src/progress-publisher.ts";

function harness() {
  const sent: ProgressUpdate[] = [];
  const publisher: ProgressPublisher = {
    publish: (u) => {
      sent.push(structuredClone(u));
    },
    finish: async (u) => {
      sent.push(u);
    },
    close: () => {},
    unacked: 0,
    refusal: null,
    cancelled: new AbortController().signal,
  };
  return {
    progress: createJobProgress(
      publisher,
      createLogger({}, () => {}),
    ),
    sent,
  };
}

describe("createJobProgress", () => {
  it("download percent never goes back when a retried download restarts at 0 bytes", () => {
    const { progress, sent } = harness();
    progress.downloading(0, null);
    progress.downloading(0, 10_000);
    progress.downloading(6000, 10_000);
    progress.downloading(6004, 10_000); // less than 0.1% more: no event
    progress.downloading(0, 10_000); // the storage client retried
    progress.downloading(3000, 10_000);
    progress.downloading(10_000, 10_000);
    expect(sent.map((e) => (e.type === "downloading" ? [e.bytes, e.totalBytes, e.percent] : null))).toEqual([
      [0, null, 0],
      [0, 10_000, 0],
      [6000, 10_000, 60],
      [6004, 10_000, 60],
      [10_000, 10_000, 100],
    ]);
  });

  it("an unknown size reports bytes with 0 percent", () => {
    const { progress, sent } = harness();
    progress.downloading(5000, null);
    expect(sent).toEqual([{ type: "downloading", bytes: 5000, totalBytes: null, percent: 0 }]);
  });

  it("transcoding: overall from ffmpeg time, rungs from finished segments, ETA from speed", () => {
    const { progress, sent } = harness();
    progress.transcodingStarted(
      [
        { name: "720p", height: 720 },
        { name: "480p", height: 480 },
      ],
      20,
      30,
    );
    progress.ffmpegStats({ seconds: 5, fps: 0, speed: 2 }); // ffmpeg's first second: fps=0.0
    progress.rungSegments("480p", 1); // 6 s of 20
    progress.ffmpegStats({ seconds: 4, fps: 75, speed: 2.5 }); // never backwards
    progress.rungSegments("720p", 5); // more than the duration: capped
    progress.rungSegments("480p", 1); // no change, nothing sent
    progress.rungSegments("unknown", 2);
    progress.ffmpegStats({ seconds: 21, fps: 80, speed: null }); // overshoot, speed N/A
    progress.transcoded();
    const t = sent.filter((e) => e.type === "transcoding");
    expect(t.map((e) => [e.percent, e.rungs.map((r) => r.percent), e.fps, e.speed, e.etaSeconds])).toEqual([
      [0, [0, 0], null, null, null],
      [25, [0, 0], 60, 2, 7.5],
      [25, [0, 30], 60, 2, 7.5],
      [25, [0, 30], 75, 2.5, 6.4],
      [25, [100, 30], 75, 2.5, 6.4],
      [100, [100, 30], 80, 2.5, 6.4],
      [100, [100, 100], 80, 2.5, 0],
    ]);
    expect(t[0]?.rungs).toEqual([
      { name: "720p", height: 720, percent: 0 },
      { name: "480p", height: 480, percent: 0 },
    ]);
  });

  it("uploading counts files and ends at 100", () => {
    const { progress, sent } = harness();
    progress.uploading(0, 4);
    progress.uploading(1, 4);
    progress.uploading(3, 4);
    progress.uploading(2, 4); // completions can be reported out of order
    progress.uploading(4, 4);
    expect(sent.map((e) => (e.type === "uploading" ? [e.files, e.totalFiles, e.percent] : null))).toEqual([
      [0, 4, 0],
      [1, 4, 25],
      [3, 4, 75],
      [3, 4, 75],
      [4, 4, 100],
    ]);
  });

  it("ready and failed go through finish()", async () => {
    const { progress, sent } = harness();
    await progress.failed("The uploaded file is empty (0 bytes)");
    expect(sent).toEqual([{ type: "failed", reason: "The uploaded file is empty (0 bytes)" }]);
  });
});
