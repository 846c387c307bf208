import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { M3U8Parser, PlaylistLevelType } from "hls.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeChunk, parseBox, planChunks, readBoxes, readTrackInfo } from "../src/media/chunks/index.ts";
import { accessUnitKind, readAvcConfig } from "../src/media/delivery/h264.ts";
import { iframePlaylist } from "../src/media/delivery/iframes.ts";
import type { LocalTrack } from "../src/media/delivery/types.ts";

/**
 * The I-frame playlist of a real rung made by the chunk encoder (9 s at 30 fps: segments of 1, 1, 2, 2
 * and 3 s, one fragment per GOP, so 6 I-frames), re-read at the byte ranges it lists.
 */

const exec = promisify(execFile);
const SECONDS = 9;
const FPS = 30;

let dir: string;
let rung: LocalTrack;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "streamlet-delivery-iframes-"));
  const source = join(dir, "source.mp4");
  await exec("ffmpeg", [
    ...["-v", "error", "-y", "-f", "lavfi", "-i", `testsrc2=size=320x180:rate=${FPS}`, "-t", String(SECONDS)],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", source],
  ]);
  const plan = planChunks({ durationSeconds: SECONDS, fps: { num: FPS, den: 1 }, chunkSeconds: 6 });
  const out = join(dir, "out");
  const rungs = [
    { name: "180p", width: 320, height: 180, videoBitrate: 300_000, maxBitrate: 450_000, bufsize: 900_000 },
  ];
  const encoder = { kind: "x264", preset: "veryfast" } as const;
  for (const chunk of plan.chunks) {
    await encodeChunk({ input: source, outDir: out, rungs, encoder, plan, chunk: chunk.index });
  }
  rung = {
    name: "180p",
    initPath: join(out, "180p", "init.mp4"),
    segmentPaths: plan.segments.map((s) => join(out, "180p", `seg_${String(s.index).padStart(5, "0")}.m4s`)),
    durations: plan.segments.map((s) => s.durationSeconds),
  };
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The entries as listed: EXTINF, byte range and URI after each other. */
function listed(text: string) {
  const lines = text.trimEnd().split("\n");
  const entries: { duration: number; length: number; offset: number; uri: string }[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith("#EXTINF:")) return;
    const range = /^#EXT-X-BYTERANGE:(\d+)@(\d+)$/.exec(lines[i + 1] ?? "");
    if (!range) throw new Error(`EXTINF without a byte range at line ${i + 1}`);
    entries.push({
      duration: Number.parseFloat(line.slice(8)),
      length: Number(range[1]),
      offset: Number(range[2]),
      uri: lines[i + 2] ?? "",
    });
  });
  return entries;
}

describe("iframePlaylist on a real rung", { timeout: 30_000 }, () => {
  it("lists one I-frame per fragment (GOP), durations summing to the rung's", async () => {
    const { text } = await iframePlaylist(rung);
    expect(text.split("\n").slice(0, 7)).toEqual([
      "#EXTM3U",
      "#EXT-X-VERSION:7",
      "#EXT-X-TARGETDURATION:2",
      "#EXT-X-MEDIA-SEQUENCE:1",
      "#EXT-X-PLAYLIST-TYPE:VOD",
      "#EXT-X-I-FRAMES-ONLY",
      '#EXT-X-MAP:URI="init.mp4"',
    ]);
    expect(text.endsWith("#EXT-X-ENDLIST\n")).toBe(true);
    const entries = listed(text);
    expect(entries.map((e) => [e.uri, e.duration])).toEqual([
      ["seg_00001.m4s", 1],
      ["seg_00002.m4s", 1],
      ["seg_00003.m4s", 2],
      ["seg_00004.m4s", 2],
      ["seg_00005.m4s", 2],
      ["seg_00005.m4s", 1],
    ]);
    const total = entries.reduce((sum, e) => sum + e.duration, 0);
    expect(total).toBeCloseTo(
      rung.durations.reduce((a, b) => a + b, 0),
      6,
    );
  });

  it("points each byte range at a moof, its mdat header and exactly the IDR's bytes", async () => {
    const { text } = await iframePlaylist(rung);
    const avc = readAvcConfig(await readFile(rung.initPath));
    for (const e of listed(text)) {
      const file = await readFile(join(dir, "out", "180p", e.uri));
      const range = file.subarray(e.offset, e.offset + e.length);
      expect(range.length).toBe(e.length);
      // The range starts with a whole moof, and an mdat header follows it.
      const moofSize = range.readUInt32BE(0);
      const [moofRef] = readBoxes(range, 0, moofSize);
      expect(moofRef?.type).toBe("moof");
      expect(range.toString("latin1", moofSize + 4, moofSize + 8)).toBe("mdat");
      // The trun's first sample (data offset from the moof: default-base-is-moof) ends where the range does.
      const moof = parseBox(range, moofRef as NonNullable<typeof moofRef>);
      const traf = moof.children?.find((c) => c.type === "traf");
      const trun = traf?.children?.find((c) => c.type === "trun")?.payload as Buffer;
      const flags = trun.readUInt32BE(0) & 0xffffff;
      expect(flags & 0x1).toBe(0x1);
      expect(flags & 0x200).toBe(0x200);
      const dataOffset = trun.readInt32BE(8);
      const sizeAt = 12 + (flags & 0x4 ? 4 : 0) + (flags & 0x100 ? 4 : 0);
      const firstSize = trun.readUInt32BE(sizeAt);
      expect(dataOffset).toBe(moofSize + 8);
      expect(dataOffset + firstSize).toBe(e.length);
      expect(accessUnitKind(range.subarray(dataOffset), avc.lengthSize)).toBe("idr");
    }
  });

  it("holds a whole picture in every byte range: ffmpeg decodes each I-frame from it", async () => {
    const { text } = await iframePlaylist(rung);
    const init = await readFile(rung.initPath);
    const avc = readAvcConfig(init);
    const startCode = Buffer.from([0, 0, 0, 1]);
    // Each I-frame as Annex B behind the parameter sets, one after another: one probe decodes them all.
    const pictures: Buffer[] = [];
    for (const e of listed(text)) {
      const file = await readFile(join(dir, "out", "180p", e.uri));
      const range = file.subarray(e.offset, e.offset + e.length);
      const sample = range.subarray(range.readUInt32BE(0) + 8);
      const nals: Buffer[] = [...avc.sps, ...ppsOf(init)];
      for (let at = 0; at < sample.length; ) {
        const size = sample.readUIntBE(at, avc.lengthSize);
        nals.push(sample.subarray(at + avc.lengthSize, at + avc.lengthSize + size));
        at += avc.lengthSize + size;
        if (at === sample.length) break;
        expect(at).toBeLessThan(sample.length);
      }
      pictures.push(...nals.flatMap((n) => [startCode, n]));
    }
    const h264 = join(dir, "iframes.h264");
    await writeFile(h264, Buffer.concat(pictures));
    const { stdout, stderr } = await exec("ffprobe", [
      ...["-v", "error", "-count_frames", "-select_streams", "v:0"],
      ...["-show_entries", "stream=nb_read_frames,width,height", "-of", "csv=p=0", h264],
    ]);
    expect(stderr).toBe("");
    expect(stdout.trim()).toBe("320,180,6");
  });

  it("gives the I-frame stream's peak and average bit rates from the byte ranges", async () => {
    const { text, peakBitrate, averageBitrate } = await iframePlaylist(rung);
    const entries = listed(text);
    const rates = entries.map((e) => (e.length * 8) / e.duration);
    expect(peakBitrate).toBe(Math.round(Math.max(...rates)));
    const bits = entries.reduce((sum, e) => sum + e.length * 8, 0);
    expect(averageBitrate).toBe(Math.round(bits / SECONDS));
    expect(peakBitrate).toBeGreaterThan(averageBitrate);
  });

  it("parses in hls.js as an I-frames-only VOD level with the same byte ranges", async () => {
    const { text } = await iframePlaylist(rung);
    const details = M3U8Parser.parseLevelPlaylist(
      text,
      "https://cdn.example/v/180p/iframes.m3u8",
      0,
      PlaylistLevelType.MAIN,
      0,
      null,
    );
    expect(details.iframesOnly).toBe(true);
    expect(details.live).toBe(false);
    expect(details.totalduration).toBeCloseTo(SECONDS, 6);
    expect(details.fragments[0]?.initSegment?.url).toBe("https://cdn.example/v/180p/init.mp4");
    expect(details.fragments.map((f) => [f.relurl, f.byteRange])).toEqual(
      listed(text).map((e) => [e.uri, [e.offset, e.offset + e.length]]),
    );
  });

  it("refuses a segment whose fragment does not start with a sync sample", async () => {
    const bad = join(dir, "bad.m4s");
    const bytes = await readFile(rung.segmentPaths[1] as string);
    const trun = bytes.indexOf(Buffer.from("trun")) + 4;
    const flags = bytes.readUInt32BE(trun) & 0xffffff;
    expect(flags & 0x4).toBe(0x4); // first_sample_flags present
    const at = trun + 8 + (flags & 0x1 ? 4 : 0);
    bytes.writeUInt32BE(bytes.readUInt32BE(at) | 0x10000, at);
    await writeFile(bad, bytes);
    await expect(iframePlaylist({ ...rung, segmentPaths: [bad], durations: [1] })).rejects.toThrow(
      /180p segment 1 fragment 1 does not start with a sync sample/,
    );
    expect(readTrackInfo(await readFile(rung.initPath)).timescale).toBe(90_000);
  });
});

/** The PPS NAL units of an avcC (after its SPS list). */
function ppsOf(init: Buffer): Buffer[] {
  const at = init.indexOf(Buffer.from("avcC")) + 4;
  let p = at + 6;
  for (let n = (init[at + 5] as number) & 0x1f; n > 0; n--) p += 2 + init.readUInt16BE(p);
  const pps: Buffer[] = [];
  for (let n = init[p++] as number; n > 0; n--) {
    const size = init.readUInt16BE(p);
    pps.push(init.subarray(p + 2, p + 2 + size));
    p += 2 + size;
  }
  return pps;
}
