import { Rendition } from "@streamlet/shared";
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
