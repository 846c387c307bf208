import { Rendition } from "@streamlet/shared";
import { M3U8Parser } from "hls.js";
import { describe, expect, it } from "vitest";
import { type MeasuredRung, toRenditions, writeMasterPlaylist } from "../src/media/master-playlist.ts";

const rungs: MeasuredRung[] = [
  {
    name: "1080p",
    width: 1920,
    height: 1080,
    peakBitrate: 7_100_000,
    averageBitrate: 5_200_000,
    codecs: "avc1.640028",
    frameRate: 30000 / 1001,
  },
  {
    name: "480p",
    width: 854,
    height: 480,
    peakBitrate: 1_500_000,
    averageBitrate: 1_000_000,
    codecs: "avc1.64001e",
    frameRate: 30000 / 1001,
  },
  {
    name: "720p",
    width: 1280,
    height: 720,
    peakBitrate: 3_900_000,
    averageBitrate: 2_600_000,
    codecs: "avc1.64001f",
    frameRate: 30000 / 1001,
  },
];
const audio = { peakBitrate: 131_000, averageBitrate: 129_000, codecs: "mp4a.40.2", channels: 2 };

describe("writeMasterPlaylist", () => {
  it("with audio: one audio group, video + audio bandwidths, lowest bandwidth first", () => {
    expect(writeMasterPlaylist({ rungs, audio })).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="Default",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"',
        '#EXT-X-STREAM-INF:BANDWIDTH=1631000,AVERAGE-BANDWIDTH=1129000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=854x480,FRAME-RATE=29.970,AUDIO="aud"',
        "480p/index.m3u8",
        '#EXT-X-STREAM-INF:BANDWIDTH=4031000,AVERAGE-BANDWIDTH=2729000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=29.970,AUDIO="aud"',
        "720p/index.m3u8",
        '#EXT-X-STREAM-INF:BANDWIDTH=7231000,AVERAGE-BANDWIDTH=5329000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=29.970,AUDIO="aud"',
        "1080p/index.m3u8",
        "",
      ].join("\n"),
    );
  });

  it("without audio: no EXT-X-MEDIA, no AUDIO attribute, video-only codecs", () => {
    expect(writeMasterPlaylist({ rungs: [rungs[1] as MeasuredRung], audio: null })).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        '#EXT-X-STREAM-INF:BANDWIDTH=1500000,AVERAGE-BANDWIDTH=1000000,CODECS="avc1.64001e",RESOLUTION=854x480,FRAME-RATE=29.970',
        "480p/index.m3u8",
        "",
      ].join("\n"),
    );
  });
});

describe("toRenditions", () => {
  it("matches the shared Rendition schema and the playlist order", () => {
    const renditions = toRenditions({ rungs, audio });
    expect(renditions.map((r) => r.name)).toEqual(["480p", "720p", "1080p"]);
    for (const r of renditions) expect(Rendition.parse(r)).toEqual(r);
    expect(renditions[0]).toEqual({
      name: "480p",
      width: 854,
      height: 480,
      bandwidth: 1_631_000,
      averageBandwidth: 1_129_000,
      codecs: "avc1.64001e,mp4a.40.2",
      frameRate: 29.97,
    });
  });
});

describe("writeMasterPlaylist with I-frame playlists", () => {
  const iframes = [
    { name: "720p", bandwidth: 1_100_000.4, averageBandwidth: 390_000 },
    { name: "480p", bandwidth: 420_000, averageBandwidth: 150_000 },
  ];

  it("adds one EXT-X-I-FRAME-STREAM-INF per rung after the variants, video codec only", () => {
    const text = writeMasterPlaylist({ rungs, audio, iframes });
    const lines = text.trimEnd().split("\n");
    expect(lines.slice(-2)).toEqual([
      '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=420000,AVERAGE-BANDWIDTH=150000,CODECS="avc1.64001e",RESOLUTION=854x480,URI="480p/iframes.m3u8"',
      '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=1100000,AVERAGE-BANDWIDTH=390000,CODECS="avc1.64001f",RESOLUTION=1280x720,URI="720p/iframes.m3u8"',
    ]);
    // Everything before them is the playlist without I-frames.
    expect(text.startsWith(writeMasterPlaylist({ rungs, audio }))).toBe(true);
  });

  it("parses in hls.js as I-frame variants beside the levels", () => {
    const parsed = M3U8Parser.parseMasterPlaylist(
      writeMasterPlaylist({ rungs, audio, iframes }),
      "https://cdn.example/v/master.m3u8",
    );
    expect(parsed.playlistParsingError).toBeNull();
    expect(parsed.levels).toHaveLength(3);
    expect(
      parsed.iframeVariants.map((v) => [v.url, v.bitrate, v.width, v.height, v.videoCodec, v.audioCodec]),
    ).toEqual([
      ["https://cdn.example/v/480p/iframes.m3u8", 420_000, 854, 480, "avc1.64001e", undefined],
      ["https://cdn.example/v/720p/iframes.m3u8", 1_100_000, 1280, 720, "avc1.64001f", undefined],
    ]);
  });

  it("refuses an I-frame playlist for a rung the ladder lacks", () => {
    expect(() =>
      writeMasterPlaylist({ rungs, audio, iframes: [{ name: "4k", bandwidth: 1, averageBandwidth: 1 }] }),
    ).toThrow(/unknown rung 4k/);
  });
});
