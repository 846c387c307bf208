import { describe, expect, it } from "vitest";
import {
  subtitlePlaylist,
  subtitlePlaylistLanguage,
  withSubtitleGroup,
  withTextAdaptationSets,
} from "../src/captions/manifests.ts";

const MASTER = [
  "#EXTM3U",
  "#EXT-X-VERSION:7",
  "#EXT-X-INDEPENDENT-SEGMENTS",
  '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Default",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="audio/index.m3u8"',
  '#EXT-X-STREAM-INF:BANDWIDTH=800000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=640x360,AUDIO="audio"',
  "360p/index.m3u8",
  '#EXT-X-STREAM-INF:BANDWIDTH=2000000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1280x720,AUDIO="audio"',
  "720p/index.m3u8",
  '#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,CODECS="avc1.640028",RESOLUTION=1280x720,URI="720p/iframes.m3u8"',
  "",
].join("\n");

const tracks = [
  { language: "en", label: "English" },
  { language: "pt-BR", label: "Português (Brasil)" },
];

describe("withSubtitleGroup", () => {
  it("adds the group after the audio rendition and SUBTITLES to variants, not to I-frame playlists", () => {
    const lines = withSubtitleGroup(MASTER, tracks).split("\n");
    expect(lines.slice(3, 6)).toEqual([
      MASTER.split("\n")[3],
      '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subtitles/en.m3u8"',
      '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Português (Brasil)",LANGUAGE="pt-BR",DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI="subtitles/pt-BR.m3u8"',
    ]);
    const variants = lines.filter((line) => line.startsWith("#EXT-X-STREAM-INF:"));
    expect(variants).toHaveLength(2);
    for (const line of variants) expect(line.endsWith(',AUDIO="audio",SUBTITLES="subs"')).toBe(true);
    const iframes = lines.filter((line) => line.startsWith("#EXT-X-I-FRAME-STREAM-INF:"));
    expect(iframes).toEqual([MASTER.split("\n")[8]]);
    expect(lines.at(-1)).toBe("");
  });

  it("puts the group before the first variant without audio, and changes nothing without tracks", () => {
    const master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=2x2\n720p/index.m3u8\n";
    expect(withSubtitleGroup(master, [])).toBe(master);
    const lines = withSubtitleGroup(master, tracks.slice(0, 1)).split("\n");
    expect(lines[1]).toMatch(/^#EXT-X-MEDIA:TYPE=SUBTITLES,/);
    expect(lines[2]).toBe('#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=2x2,SUBTITLES="subs"');
  });

  it("never writes a double quote or line break inside a quoted string", () => {
    const out = withSubtitleGroup(MASTER, [{ language: "en", label: 'Evil",URI="x\n#EXT-X-ENDLIST' }]);
    const media = out.split("\n").filter((line) => line.includes("TYPE=SUBTITLES"));
    expect(media).toHaveLength(1);
    expect(media[0]).toContain('NAME="Evil ,URI= x #EXT-X-ENDLIST"');
  });
});

describe("withTextAdaptationSets", () => {
  const MPD =
    '<?xml version="1.0"?>\n<MPD><Period id="0"><AdaptationSet contentType="video"/></Period>\n</MPD>\n';

  it("adds one text adaptation set per track before </Period>, XML-escaped", () => {
    const out = withTextAdaptationSets(MPD, [{ language: "en", label: `<script>&"'</script>` }]);
    expect(out).toBe(
      '<?xml version="1.0"?>\n<MPD><Period id="0"><AdaptationSet contentType="video"/>' +
        '<AdaptationSet contentType="text" mimeType="text/vtt" lang="en"><Role schemeIdUri="urn:mpeg:dash:role:2011" value="subtitle"/>' +
        "<Label>&lt;script&gt;&amp;&quot;&apos;&lt;/script&gt;</Label>" +
        '<Representation id="sub-en" bandwidth="256"><BaseURL>subtitles/en.vtt</BaseURL></Representation></AdaptationSet>\n' +
        "</Period>\n</MPD>\n",
    );
    expect(out).not.toContain("<script>");
  });

  it("changes nothing without tracks or without a Period", () => {
    expect(withTextAdaptationSets(MPD, [])).toBe(MPD);
    expect(withTextAdaptationSets("<MPD/>", tracks)).toBe("<MPD/>");
  });
});

describe("subtitlePlaylist", () => {
  it("is one segment spanning the video", () => {
    expect(subtitlePlaylist("pt-BR", 12.3456)).toBe(
      "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:13\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:12.346,\npt-BR.vtt\n#EXT-X-ENDLIST\n",
    );
    expect(subtitlePlaylist("en", 0).split("\n")[2]).toBe("#EXT-X-TARGETDURATION:1");
  });

  it("is named subtitles/<language>.m3u8", () => {
    expect(subtitlePlaylistLanguage("subtitles/pt-BR.m3u8")).toBe("pt-BR");
    expect(subtitlePlaylistLanguage("subtitles/en.vtt")).toBeNull();
    expect(subtitlePlaylistLanguage("720p/index.m3u8")).toBeNull();
  });
});
