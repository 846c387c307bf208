import { describe, expect, it } from "vitest";
import {
  ATTEMPTS_PER_RUN,
  MAX_TRANSCODE_RUN,
  outputPrefix,
  RUN_SEQ_EPOCH,
  runOf,
  runOfSeq,
  runSeqBase,
  SEQ_EPOCH,
  seqAttempt,
  sourceKey,
  TranscodeJob,
} from "../src/index.ts";

const id = "0b9f0c4e-5b1a-4c1e-9a51-2f7d3c1b6e10";
const job = {
  videoId: id,
  input: { key: sourceKey(id) },
  output: { prefix: outputPrefix(id) },
  progressToken: "t",
};

describe("transcode runs (a retried video)", () => {
  it("takes an optional positive run in the job payload; absent is the first run", () => {
    expect(runOf(TranscodeJob.parse(job))).toBe(1);
    expect(runOf(TranscodeJob.parse({ ...job, run: 2 }))).toBe(2);
    for (const run of [0, -1, 1.5, MAX_TRANSCODE_RUN + 1, "2"]) {
      expect(TranscodeJob.safeParse({ ...job, run }).success).toBe(false);
    }
  });

  it("numbers the first run's attempts as before runs existed, and every later run above them", () => {
    expect(seqAttempt(1, 1)).toBe(1);
    expect(seqAttempt(1, 3)).toBe(3);
    expect(runSeqBase(1)).toBe(0);
    // The last seq any attempt of run r can use is below run r + 1's base, which is below its first event.
    for (const run of [1, 2, 7]) {
      const lastOfRun = seqAttempt(run, 10 * ATTEMPTS_PER_RUN) * SEQ_EPOCH + SEQ_EPOCH - 1;
      expect(lastOfRun).toBeLessThan(runSeqBase(run + 1));
      expect(runSeqBase(run + 1)).toBeLessThan(seqAttempt(run + 1, 1) * SEQ_EPOCH + 1);
      expect(runOfSeq(lastOfRun)).toBe(run);
      expect(runOfSeq(runSeqBase(run + 1))).toBe(run + 1);
    }
    expect(runOfSeq(-1)).toBe(1);
    expect(runOfSeq(0)).toBe(1);
    expect(RUN_SEQ_EPOCH).toBe(ATTEMPTS_PER_RUN * SEQ_EPOCH);
  });

  it("keeps the last run's seqs within a safe integer and the 15-digit `since` parameter", () => {
    const highest = seqAttempt(MAX_TRANSCODE_RUN, ATTEMPTS_PER_RUN) * SEQ_EPOCH + SEQ_EPOCH - 1;
    expect(Number.isSafeInteger(highest)).toBe(true);
    expect(String(highest).length).toBeLessThanOrEqual(15);
  });
});
