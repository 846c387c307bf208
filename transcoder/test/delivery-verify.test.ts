import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeAudio } from "../src/media/audio.ts";
import {
  encodeChunk,
  planChunks,
  readBoxes,
  readTrackInfo,
  restampFragment,
} from "../src/media/chunks/index.ts";
import { accessUnitKind, parseSps, readAvcConfig } from "../src/media/delivery/h264.ts";
import { segmentFragments } from "../src/media/delivery/iframes.ts";
import type { LocalLadder, LocalRung, LocalTrack } from "../src/media/delivery/types.ts";
import { PublishCheckError, verifyPublishedLadder } from "../src/media/delivery/verify.ts";
import { parseAvcInit } from "../src/media/hls-measure.ts";
import type { PlannedRung } from "../src/media/ladder.ts";

/**
 * The checks before publishing, against a real ladder made by the real chunk encoder and audio encoder
 * (9 s, 320x180 and 160x90 at 30 fps, AAC): segments of 1, 1, 2, 2 and 3 s (the last one two GOPs),
 * audio in 1-s pieces with its priming edit list. Each failure case copies the ladder and breaks one
 * thing in it.
 */

const exec = promisify(execFile);
const SECONDS = 9;
const FPS = 30;
const OPTIONS = { timeoutMs: 60_000 };
const RUNGS: PlannedRung[] = [
  { name: "180p", width: 320, height: 180, videoBitrate: 300_000, maxBitrate: 450_000, bufsize: 900_000 },
  { name: "90p", width: 160, height: 90, videoBitrate: 100_000, maxBitrate: 150_000, bufsize: 300_000 },
];

let dir: string;
let good: LocalLadder;

async function buildLadder(root: string): Promise<LocalLadder> {
  const source = join(root, "source.mp4");
  await exec("ffmpeg", [
    ...["-v", "error", "-y", "-f", "lavfi", "-i", `testsrc2=size=320x180:rate=${FPS}`],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", String(SECONDS)],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", source],
  ]);
  const plan = planChunks({ durationSeconds: SECONDS, fps: { num: FPS, den: 1 }, chunkSeconds: 6 });
  const out = join(root, "out");
  const encoder = { kind: "x264", preset: "veryfast" } as const;
  for (const chunk of plan.chunks) {
    await encodeChunk({ input: source, outDir: out, rungs: RUNGS, encoder, plan, chunk: chunk.index });
  }
  const audio = await encodeAudio({ input: source, outDir: out });
  const rungs: LocalRung[] = [];
  for (const r of RUNGS) {
    const initPath = join(out, r.name, "init.mp4");
    const avc = parseAvcInit(await readFile(initPath));
    rungs.push({
      name: r.name,
      initPath,
      segmentPaths: plan.segments.map((s) =>
        join(out, r.name, `seg_${String(s.index).padStart(5, "0")}.m4s`),
      ),
      durations: plan.segments.map((s) => s.durationSeconds),
      width: avc.width,
      height: avc.height,
      codecs: avc.codecs,
      frameRate: FPS,
    });
  }
  return {
    rungs,
    audio: {
      name: "audio",
      initPath: audio.initPath,
      segmentPaths: audio.segments.map((s) => s.path),
      durations: audio.segments.map((s) => s.durationSeconds),
    },
    targetSeconds: 6,
  };
}

/** A copy of the good ladder's files (paths rewritten) for one failure case to break. */
async function copyLadder(name: string): Promise<LocalLadder> {
  const to = join(dir, name);
  await cp(join(dir, "out"), to, { recursive: true });
  const move = (p: string) => join(to, relative(join(dir, "out"), p));
  const track = <T extends LocalTrack>(t: T): T => ({
    ...t,
    initPath: move(t.initPath),
    segmentPaths: t.segmentPaths.map(move),
  });
  return { ...good, rungs: good.rungs.map(track), audio: good.audio ? track(good.audio) : null };
}

/** Rewrites one segment file in place. */
async function edit(path: string, change: (bytes: Buffer) => Buffer | undefined): Promise<void> {
  const bytes = await readFile(path);
  await writeFile(path, change(bytes) ?? bytes);
}

/** The error a rejected verification threw, for its fields. */
async function failure(ladder: LocalLadder): Promise<PublishCheckError> {
  const err = await verifyPublishedLadder(ladder, OPTIONS).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PublishCheckError);
  return err as PublishCheckError;
}

const seg = (ladder: LocalLadder, rung: number, segment: number) =>
  ladder.rungs[rung]?.segmentPaths[segment - 1] as string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "streamlet-delivery-verify-"));
  good = await buildLadder(dir);
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("verifyPublishedLadder on a real ladder", { timeout: 60_000 }, () => {
  it("passes the ladder as encoded and says what it found", async () => {
    const check = await verifyPublishedLadder(good, OPTIONS);
    expect(check.rungs.map((r) => [r.name, r.segments, r.fragments, r.decodedFrames])).toEqual([
      ["180p", 5, 6, SECONDS * FPS],
      ["90p", 5, 6, SECONDS * FPS],
    ]);
    for (const r of check.rungs) {
      expect(r.startSeconds).toBe(0);
      expect(r.durationSeconds).toBeCloseTo(SECONDS, 6);
    }
    // The AAC priming edit list (1024 samples at 48 kHz) puts the audio's first sample 21.3 ms early.
    expect(check.audioOffsetSeconds).toBeCloseTo(-1024 / 48_000, 6);
    expect(check.audio?.decodedSeconds).toBeGreaterThan(SECONDS - 0.1);
  });

  it("fails a segment whose picture data is corrupted, naming it", async () => {
    const ladder = await copyLadder("corrupt");
    await edit(seg(ladder, 0, 3), (bytes) => {
      const mdat = readBoxes(bytes).find((b) => b.type === "mdat");
      if (!mdat) throw new Error("no mdat");
      // Inside the IDR's slice data, past its headers: the container stays valid, the picture does not.
      const at = mdat.payload + 2000;
      for (let i = 0; i < 64; i++) bytes[at + i] = (bytes[at + i] as number) ^ 0x5a;
      return bytes;
    });
    const err = await failure(ladder);
    expect(err.message).toMatch(/^180p segment 3 does not decode: \[h264\] /);
    expect([err.track, err.segment]).toEqual(["180p", 3]);
  });

  it("fails corrupted audio, naming the audio segment", async () => {
    const ladder = await copyLadder("corrupt-audio");
    await edit(ladder.audio?.segmentPaths[4] as string, (bytes) => {
      const mdat = readBoxes(bytes).find((b) => b.type === "mdat");
      if (!mdat) throw new Error("no mdat");
      bytes.fill(0xff, mdat.payload + 100, mdat.payload + 400);
      return bytes;
    });
    const err = await failure(ladder);
    expect(err.message).toMatch(/^audio segment 5 does not decode/);
  });

  it("fails a segment whose first frame is not marked as a sync sample", async () => {
    const ladder = await copyLadder("not-sync");
    await edit(seg(ladder, 1, 4), (bytes) => {
      // The first sample's flags: the trun's first_sample_flags, or the first entry's flags field.
      const trun = bytes.indexOf(Buffer.from("trun")) + 4;
      const flags = bytes.readUInt32BE(trun) & 0xffffff;
      let at = trun + 8 + (flags & 0x1 ? 4 : 0);
      if (!(flags & 0x4)) {
        if (!(flags & 0x400)) throw new Error("the trun carries no sample flags");
        at += (flags & 0x100 ? 4 : 0) + (flags & 0x200 ? 4 : 0);
      }
      bytes.writeUInt32BE(bytes.readUInt32BE(at) | 0x10000, at);
      return bytes;
    });
    const err = await failure(ladder);
    expect(err.message).toBe("90p segment 4 does not start with a frame marked as a sync sample");
  });

  it("fails a segment whose first frame is not an IDR picture", async () => {
    const ladder = await copyLadder("not-idr");
    const init = await readFile(ladder.rungs[0]?.initPath as string);
    const avc = readAvcConfig(init);
    const track = readTrackInfo(init);
    await edit(seg(ladder, 0, 2), (bytes) => {
      const [first] = segmentFragments(bytes, track);
      let at = first?.sampleOffsets[0] as number;
      const end = at + (first?.sampleSizes[0] as number);
      expect(accessUnitKind(bytes.subarray(at, end), avc.lengthSize)).toBe("idr");
      // Relabel the first access unit's IDR slices as non-IDR slices (nal_unit_type 5 -> 1).
      while (at < end) {
        const size = bytes.readUIntBE(at, avc.lengthSize);
        const header = at + avc.lengthSize;
        if (((bytes[header] as number) & 0x1f) === 5) bytes[header] = ((bytes[header] as number) & 0xe0) | 1;
        at = header + size;
      }
      expect(accessUnitKind(bytes.subarray(first?.sampleOffsets[0], end), avc.lengthSize)).toBe("non-idr");
      return bytes;
    });
    const err = await failure(ladder);
    expect(err.message).toBe("180p segment 2 does not start with an IDR frame");
  });

  it("reads the SPS the codec string and the cropped picture size come from", async () => {
    for (const rung of good.rungs) {
      const avc = readAvcConfig(await readFile(rung.initPath));
      const sps = parseSps(avc.sps[0] as Buffer);
      expect([sps.width, sps.height]).toEqual([rung.width, rung.height]);
      expect([sps.profile, sps.constraints, sps.level]).toEqual([avc.profile, avc.constraints, avc.level]);
    }
  });

  it("fails a CODECS string or a RESOLUTION that is not the stream's", async () => {
    const top = good.rungs[0] as LocalRung;
    const wrongCodecs = { ...good, rungs: [{ ...top, codecs: "avc1.64001f" }, ...good.rungs.slice(1)] };
    expect((await failure(wrongCodecs)).message).toBe(
      `180p CODECS "avc1.64001f" does not match the stream, which is ${top.codecs}`,
    );
    const wrongSize = { ...good, rungs: [{ ...top, width: 640, height: 360 }, ...good.rungs.slice(1)] };
    expect((await failure(wrongSize)).message).toBe(
      "180p RESOLUTION 640x360 does not match the SPS (320x180)",
    );
  });

  it("fails a segment longer than the target allows, or than its EXTINF", async () => {
    // Segment 3 really lasts 2 s: over a 1-s target by more than 0.5 s.
    expect((await failure({ ...good, targetSeconds: 1 })).message).toBe(
      "180p segment 3 lasts 2.000 s, more than the 1 s target + 0.5 s",
    );
    const top = good.rungs[0] as LocalRung;
    const listed = [...top.durations];
    listed[3] = 2.1;
    const wrongExtinf = { ...good, rungs: [{ ...top, durations: listed }, ...good.rungs.slice(1)] };
    expect((await failure(wrongExtinf)).message).toBe(
      "180p segment 4 lasts 2.000 s but its playlist says 2.100 s",
    );
  });

  it("fails audio that starts 0.5 s after the video", async () => {
    const ladder = await copyLadder("late-audio");
    const audio = ladder.audio as LocalTrack;
    const track = readTrackInfo(await readFile(audio.initPath));
    const late = BigInt(track.timescale / 2);
    for (const path of audio.segmentPaths) {
      await edit(path, (bytes) => {
        const parts = readBoxes(bytes).map((b) => bytes.subarray(b.start, b.end));
        const out: Buffer[] = [];
        for (let i = 0; i < parts.length; i++) {
          const part = parts[i] as Buffer;
          if (part.toString("latin1", 4, 8) !== "moof") {
            out.push(part);
            continue;
          }
          const fragment = Buffer.concat([part, parts[i + 1] as Buffer]);
          const info = segmentFragments(fragment, track)[0]?.info;
          if (!info) throw new Error("no fragment");
          out.push(
            restampFragment(fragment, {
              sequenceNumber: info.sequenceNumber,
              baseMediaDecodeTime: info.baseMediaDecodeTime + late,
            }),
          );
          i++;
        }
        return Buffer.concat(out);
      });
    }
    const err = await failure(ladder);
    expect(err.message).toBe("audio starts at 0.479 s but video at 0.000 s (479 ms apart, more than 50 ms)");
  });

  it("fails rungs that do not start together", async () => {
    const ladder = await copyLadder("late-rung");
    const rung = ladder.rungs[1] as LocalRung;
    const track = readTrackInfo(await readFile(rung.initPath));
    for (const path of rung.segmentPaths) {
      await edit(path, (bytes) => {
        const out = segmentFragments(bytes, track).map((f) =>
          restampFragment(bytes.subarray(f.offset, f.end), {
            sequenceNumber: f.info.sequenceNumber,
            baseMediaDecodeTime: f.info.baseMediaDecodeTime + BigInt(track.timescale / FPS),
          }),
        );
        return Buffer.concat(out);
      });
    }
    expect((await failure(ladder)).message).toBe("90p starts at 0.033 s, 180p at 0.000 s");
  });
});
