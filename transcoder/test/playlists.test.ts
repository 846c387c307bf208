import { M3U8Parser } from "hls.js";
import { describe, expect, it } from "vitest";
import { writeMasterPlaylist } from "../src/media/master-playlist.ts";
import {
  contiguousPrefix,
  provisionalMasterPlaylist,
  type StoredSegment,
  targetDuration,
  variantPlaylist,
} from "../src/media/playlists.ts";

const seg = (...durations: number[]): StoredSegment[] =>
  durations.map((durationSeconds, i) => ({ number: i + 1, durationSeconds }));

describe("variantPlaylist", () => {
  it("incomplete: a growing EVENT playlist that starts at the beginning and has no ENDLIST", () => {
    expect(variantPlaylist({ segments: seg(2, 2, 6), complete: false, plannedMaxSegmentSeconds: 6 })).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:6",
        "#EXT-X-MEDIA-SEQUENCE:1",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-START:TIME-OFFSET=0",
        '#EXT-X-MAP:URI="init.mp4"',
        "#EXTINF:2.000000,",
        "seg_00001.m4s",
        "#EXTINF:2.000000,",
        "seg_00002.m4s",
        "#EXTINF:6.000000,",
        "seg_00003.m4s",
        "",
      ].join("\n"),
    );
  });

  it("complete: VOD with ENDLIST, no START", () => {
    expect(variantPlaylist({ segments: seg(6.016, 1.5), complete: true, mapUri: "x/init.mp4" })).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:6",
        "#EXT-X-MEDIA-SEQUENCE:1",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MAP:URI="x/init.mp4"',
        "#EXTINF:6.016000,",
        "seg_00001.m4s",
        "#EXTINF:1.500000,",
        "seg_00002.m4s",
        "#EXT-X-ENDLIST",
        "",
      ].join("\n"),
    );
  });

  it("an EVENT playlist only grows: each version starts with the previous one's lines", () => {
    const all = seg(2, 2, 2, 6, 6, 6, 4.2);
    const versions = all.map((_, i) =>
      variantPlaylist({ segments: all.slice(0, i + 1), complete: false, plannedMaxSegmentSeconds: 6 }),
    );
    for (let i = 1; i < versions.length; i++) {
      expect((versions[i] as string).startsWith(versions[i - 1] as string)).toBe(true);
    }
    // The first version already carries the final target duration.
    expect(versions[0]).toContain("#EXT-X-TARGETDURATION:6\n");
    const done = variantPlaylist({ segments: all, complete: true, plannedMaxSegmentSeconds: 6 });
    expect(done.replace("VOD", "EVENT").replace("#EXT-X-ENDLIST\n", "")).toBe(
      (versions.at(-1) as string).replace("#EXT-X-START:TIME-OFFSET=0\n", ""),
    );
  });

  it.each([
    [[2, 2], undefined, 2],
    [[2, 2], 6, 6],
    [[6.016, 5.994667], 6, 6],
    [[6.4], 6, 6],
    [[6.5], 6, 7],
    [[5.5], undefined, 6],
    [[0.021333], undefined, 1],
    [[], 6, 6],
    [[], undefined, 1],
  ])("target duration of %j planned %s → %s (rounded EXTINF ≤ target)", (durations, planned, expected) => {
    expect(targetDuration(durations, planned)).toBe(expected);
    for (const d of durations) expect(Math.round(d)).toBeLessThanOrEqual(expected);
  });

  it("refuses holes, wrong numbering, empty complete playlists and zero durations", () => {
    const hole = [
      { number: 1, durationSeconds: 2 },
      { number: 3, durationSeconds: 2 },
    ];
    expect(() => variantPlaylist({ segments: hole, complete: false })).toThrow(/numbered/);
    expect(() =>
      variantPlaylist({ segments: [{ number: 2, durationSeconds: 2 }], complete: false }),
    ).toThrow();
    expect(() => variantPlaylist({ segments: [], complete: true })).toThrow(/needs segments/);
    expect(() => variantPlaylist({ segments: seg(0), complete: false })).toThrow(/duration/);
    expect(variantPlaylist({ segments: [], complete: false })).not.toContain("#EXTINF");
  });

  it("parses with hls.js: EVENT is live from the start, VOD ends, segments and init resolve", () => {
    const base = "https://cdn.example/v/720p/index.m3u8";
    const event = M3U8Parser.parseLevelPlaylist(
      variantPlaylist({ segments: seg(2, 2, 6), complete: false, plannedMaxSegmentSeconds: 6 }),
      base,
      0,
      "main" as never,
      0,
      null,
    );
    expect(event.type).toBe("EVENT");
    expect(event.live).toBe(true);
    expect(event.startTimeOffset).toBe(0);
    expect(event.targetduration).toBe(6);
    expect(event.fragments.map((f) => f.url)).toEqual([
      "https://cdn.example/v/720p/seg_00001.m4s",
      "https://cdn.example/v/720p/seg_00002.m4s",
      "https://cdn.example/v/720p/seg_00003.m4s",
    ]);
    expect(event.fragments.map((f) => f.sn)).toEqual([1, 2, 3]);
    expect(event.fragments[0]?.initSegment?.url).toBe("https://cdn.example/v/720p/init.mp4");
    expect(event.totalduration).toBeCloseTo(10, 6);

    const vod = M3U8Parser.parseLevelPlaylist(
      variantPlaylist({ segments: seg(2, 2, 6, 1), complete: true, plannedMaxSegmentSeconds: 6 }),
      base,
      0,
      "main" as never,
      0,
      null,
    );
    expect(vod.type).toBe("VOD");
    expect(vod.live).toBe(false);
    expect(vod.fragments).toHaveLength(4);
    expect(vod.totalduration).toBeCloseTo(11, 6);
  });
});

describe("contiguousPrefix", () => {
  it.each([
    [[], 5, 0],
    [[1, 2, 3], 5, 3],
    [[2, 3, 4], 5, 0],
    [[1, 2, 4, 5], 5, 2],
    [[1, 2, 3, 4, 5], 5, 5],
    [[1, 2, 3, 4, 5, 6, 7], 5, 5],
    [[3, 1, 2], 3, 3],
    [[0, 1, 1.5, 2], 4, 2],
  ])("%j of %s → %s", (stored, total, expected) => {
    expect(contiguousPrefix(stored, total)).toBe(expected);
    expect(contiguousPrefix(new Set(stored), total)).toBe(expected);
  });
});

describe("provisionalMasterPlaylist", () => {
  const planned = [
    {
      name: "1080p",
      width: 1920,
      height: 1080,
      maxBitrate: 7_800_000,
      videoBitrate: 6_000_000,
      codecs: "avc1.640028",
      frameRate: 30000 / 1001,
    },
    {
      name: "480p",
      width: 854,
      height: 480,
      maxBitrate: 1_650_000,
      videoBitrate: 1_100_000,
      codecs: "avc1.64001e",
      frameRate: 30000 / 1001,
    },
  ];

  it("BANDWIDTH = VBV peak + audio, AVERAGE-BANDWIDTH = target + audio, lowest first", () => {
    expect(provisionalMasterPlaylist({ rungs: planned, audio: { bitrate: 128_000, channels: 2 } })).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Default",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"',
        '#EXT-X-STREAM-INF:BANDWIDTH=1778000,AVERAGE-BANDWIDTH=1228000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=854x480,FRAME-RATE=29.970,AUDIO="aud"',
        "480p/index.m3u8",
        '#EXT-X-STREAM-INF:BANDWIDTH=7928000,AVERAGE-BANDWIDTH=6128000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=29.970,AUDIO="aud"',
        "1080p/index.m3u8",
        "",
      ].join("\n"),
    );
  });

  it("matches the measured master playlist line for line except the bandwidth figures", () => {
    const audio = { bitrate: 128_000, channels: 2 };
    const provisional = provisionalMasterPlaylist({ rungs: planned, audio });
    const measured = writeMasterPlaylist({
      rungs: planned.map((r) => ({ ...r, peakBitrate: r.maxBitrate * 0.9, averageBitrate: r.videoBitrate })),
      audio: { peakBitrate: 131_000, averageBitrate: 129_000, codecs: "mp4a.40.2", channels: 2 },
    });
    const strip = (text: string) => text.replace(/(AVERAGE-)?BANDWIDTH=\d+/g, "$1BANDWIDTH=_");
    expect(strip(provisional)).toBe(strip(measured));
  });

  it("without audio: no audio group, video codecs only", () => {
    const text = provisionalMasterPlaylist({ rungs: [planned[1] as (typeof planned)[number]], audio: null });
    expect(text).not.toContain("EXT-X-MEDIA");
    expect(text).toContain(
      'BANDWIDTH=1650000,AVERAGE-BANDWIDTH=1100000,CODECS="avc1.64001e",RESOLUTION=854x480',
    );
    expect(text).not.toContain("AUDIO=");
  });

  it("parses with hls.js into levels with an audio group", () => {
    const text = provisionalMasterPlaylist({ rungs: planned, audio: { bitrate: 128_000, channels: 2 } });
    const parsed = M3U8Parser.parseMasterPlaylist(text, "https://cdn.example/v/master.m3u8");
    expect(parsed.levels.map((l) => [l.bitrate, l.width, l.height, l.url])).toEqual([
      [1_778_000, 854, 480, "https://cdn.example/v/480p/index.m3u8"],
      [7_928_000, 1920, 1080, "https://cdn.example/v/1080p/index.m3u8"],
    ]);
    const media = M3U8Parser.parseMasterPlaylistMedia(text, "https://cdn.example/v/master.m3u8", parsed);
    expect(media.AUDIO?.[0]?.url).toBe("https://cdn.example/v/audio/index.m3u8");
  });
});
