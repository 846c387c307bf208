import { execFile } from "node:child_process";
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { AUDIO_FOLDER, INIT_SEGMENT, SEGMENT_FILE, segmentName, VARIANT_PLAYLIST } from "@streamlet/shared";
// fast-xml-parser 3 (hoisted by s3rver, a root devDependency): its validator catches unclosed and
// mismatched tags and repeated attributes; it lets a raw "<" or "&" in an attribute through, which
// strictlyEscaped() checks, and ffmpeg's dash demuxer (libxml2) reads the hostile MPD below.
import { parse as parseXml, validate as validateXml } from "fast-xml-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBoxes, readFragment, readTrackInfo } from "../src/media/chunks/fmp4.ts";
import {
  addDashSubtitles,
  type DashInput,
  type DashSegment,
  type DashTrack,
  dashBandwidth,
  readDashTrack,
  timelineEntries,
  writeDashManifest,
} from "../src/media/delivery/dash.ts";
import { parseAvcInit, parseMediaPlaylist } from "../src/media/hls-measure.ts";

const exec = promisify(execFile);

type XmlNode = Record<string, unknown>;
const REPEATED = new Set(["AdaptationSet", "Representation", "S", "Role"]);
const decodeEntities = (v: string) =>
  v.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, e: string) => {
    const named: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
    if (named[e]) return named[e];
    return String.fromCodePoint(e.startsWith("#x") ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1)));
  });

/** Parses an MPD with a real XML parser after checking it is well-formed; attributes as "@_name". */
function parseMpd(text: string): XmlNode {
  expect(validateXml(text)).toBe(true);
  strictlyEscaped(text);
  const doc = parseXml(text, {
    ignoreAttributes: false,
    attributeNamePrefix: "@_",
    parseNodeValue: false,
    parseAttributeValue: false,
    arrayMode: (tag: string) => REPEATED.has(tag),
    attrValueProcessor: decodeEntities,
    tagValueProcessor: decodeEntities,
  }) as XmlNode;
  return doc.MPD as XmlNode;
}

/** What the parser above lets through: a raw "<" in an attribute, a bare "&" anywhere. */
function strictlyEscaped(text: string): void {
  for (const m of text.matchAll(/="([^"]*)"/g)) expect(m[1]).not.toMatch(/</);
  expect(text).not.toMatch(/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/);
}

const attr = (node: unknown, name: string) => (node as XmlNode)[`@_${name}`] as string | undefined;
const kids = (node: unknown, name: string) => ((node as XmlNode)[name] ?? []) as XmlNode[];
const one = (node: unknown, name: string) => (node as XmlNode)[name] as XmlNode;
const sets = (mpd: XmlNode) => kids(one(mpd, "Period"), "AdaptationSet");
const setOf = (mpd: XmlNode, type: string) =>
  sets(mpd).find((s) => attr(s, "contentType") === type) as XmlNode;

/** A SegmentTemplate's timeline expanded the way players do (ISO/IEC 23009-1 5.3.9.6). */
function expandTimeline(template: XmlNode): { start: number; duration: number }[] {
  const out: { start: number; duration: number }[] = [];
  let next = 0;
  for (const s of kids(one(template, "SegmentTimeline"), "S")) {
    const t = attr(s, "t");
    const d = Number(attr(s, "d"));
    const r = Number(attr(s, "r") ?? 0);
    expect(r).toBeGreaterThanOrEqual(0);
    next = t === undefined ? next : Number(t);
    for (let i = 0; i <= r; i++) {
      out.push({ start: next, duration: d });
      next += d;
    }
  }
  return out;
}

/** A template's URL for a Representation and number ($RepresentationID$, $Number%0Nd$ as in 5.3.9.4.4). */
function expandTemplate(template: string, id: string, number: number): string {
  return template
    .replace(/\$RepresentationID\$/g, id)
    .replace(/\$Number(?:%0(\d+)d)?\$/g, (_, width?: string) =>
      String(number).padStart(Number(width ?? 0), "0"),
    );
}

/** The template a Representation uses: its own, else its AdaptationSet's. */
const templateFor = (set: XmlNode, rep: XmlNode) => (rep.SegmentTemplate ?? set.SegmentTemplate) as XmlNode;

const track = (timescale: number, durations: number[], first = 0, bytes = 1000): DashTrack => {
  let start = first;
  const segments = durations.map((duration) => {
    const s = { start, duration, bytes };
    start += duration;
    return s;
  });
  return { timescale, segments };
};

// The ladder's shape: 1, 2, 4 s, then 6 s, a short last one; 30 fps at 15360 ticks/s; audio at 48 kHz
// ending close to (not exactly at) the video's boundaries.
const VIDEO_SECONDS = [1, 2, 4, 6, 6, 6, 6, 2.5];
const video = (sizes: number[] = VIDEO_SECONDS.map((s) => s * 250_000)) => {
  const t = track(
    15360,
    VIDEO_SECONDS.map((s) => s * 15360),
  );
  t.segments.forEach((seg, i) => {
    seg.bytes = sizes[i] as number;
  });
  return t;
};
const audioTrack = track(48000, [48128, 95232, 192512, 288768, 288768, 288768, 287744, 120000], 0, 24_000);

const input = (over: Partial<DashInput> = {}): DashInput => ({
  rungs: [
    { name: "1080p", width: 1920, height: 1080, codecs: "avc1.640028", frameRate: 30, track: video() },
    {
      name: "720p",
      width: 1280,
      height: 720,
      codecs: "avc1.64001f",
      frameRate: 30,
      track: video(VIDEO_SECONDS.map((s) => s * 100_000)),
    },
    {
      name: "480p",
      width: 854,
      height: 480,
      codecs: "avc1.64001e",
      frameRate: 30,
      track: video(VIDEO_SECONDS.map((s) => s * 40_000)),
    },
  ],
  audio: { track: audioTrack, samplingRate: 48000, channels: 2 },
  ...over,
});

describe("writeDashManifest", () => {
  it("writes a well-formed static MPD with one Period, a video and an audio AdaptationSet", () => {
    const mpd = parseMpd(writeDashManifest(input()));
    expect(attr(mpd, "xmlns")).toBe("urn:mpeg:dash:schema:mpd:2011");
    expect(attr(mpd, "type")).toBe("static");
    expect(attr(mpd, "profiles")?.split(",")).toContain("urn:mpeg:dash:profile:isoff-live:2011");
    // The longest track's end: here the audio's, 40 ms past the video's, so nothing is cut.
    expect(attr(mpd, "mediaPresentationDuration")).toBe("PT33.540S");
    expect(attr(mpd, "minBufferTime")).toBe("PT6.016S"); // the longest segment (audio's 288768 / 48000)
    expect(Array.isArray(mpd.Period)).toBe(false);

    const v = setOf(mpd, "video");
    expect(attr(v, "mimeType")).toBe("video/mp4");
    expect(attr(v, "segmentAlignment")).toBe("true");
    expect(attr(v, "startWithSAP")).toBe("1");
    expect([attr(v, "maxWidth"), attr(v, "maxHeight"), attr(v, "maxFrameRate"), attr(v, "par")]).toEqual([
      "1920",
      "1080",
      "30",
      "16:9",
    ]);
    const reps = kids(v, "Representation");
    expect(reps.map((r) => attr(r, "id"))).toEqual(["480p", "720p", "1080p"]); // lowest bandwidth first
    expect(reps.map((r) => attr(r, "codecs"))).toEqual(["avc1.64001e", "avc1.64001f", "avc1.640028"]);
    expect(reps.map((r) => `${attr(r, "width")}x${attr(r, "height")}`)).toEqual([
      "854x480",
      "1280x720",
      "1920x1080",
    ]);
    for (const r of reps) expect([attr(r, "frameRate"), attr(r, "sar")]).toEqual(["30", "1:1"]);

    const a = setOf(mpd, "audio");
    expect([attr(a, "mimeType"), attr(a, "lang")]).toEqual(["audio/mp4", "und"]);
    const [ar] = kids(a, "Representation");
    expect([attr(ar, "id"), attr(ar, "codecs"), attr(ar, "audioSamplingRate")]).toEqual([
      AUDIO_FOLDER,
      "mp4a.40.2",
      "48000",
    ]);
    const channels = one(ar, "AudioChannelConfiguration");
    expect(attr(channels, "schemeIdUri")).toBe("urn:mpeg:dash:23003:3:audio_channel_configuration:2011");
    expect(attr(channels, "value")).toBe("2");
  });

  it("expands each SegmentTimeline (t, d, r) to exactly the input segments, totals equal to each track's", () => {
    const gappy = track(1000, [1000, 1000, 2000, 2000, 2000, 500]);
    (gappy.segments[3] as DashSegment).start += 7; // a hole: the timeline must restate t there
    for (const s of gappy.segments.slice(4)) s.start += 7;
    const cases = [
      video(),
      audioTrack,
      gappy,
      track(90000, [540000]),
      track(15360, [15360, 15360, 15360], 1024),
    ];
    for (const t of cases) {
      const text = writeDashManifest(
        input({ rungs: [{ ...input().rungs[0], track: t } as never], audio: null }),
      );
      const v = setOf(parseMpd(text), "video");
      const template = templateFor(v, kids(v, "Representation")[0] as XmlNode);
      expect(attr(template, "timescale")).toBe(String(t.timescale));
      const expanded = expandTimeline(template);
      expect(expanded).toEqual(t.segments.map(({ start, duration }) => ({ start, duration })));
      const total = expanded.reduce((sum, s) => sum + s.duration, 0);
      expect(total).toBe(t.segments.reduce((sum, s) => sum + s.duration, 0));
    }
    // Run-length compression really happens: the four equal 6 s segments are one <S r="3">.
    expect(timelineEntries(video().segments)).toEqual([
      { t: 0, d: 15360, r: 0 },
      { d: 30720, r: 0 },
      { d: 61440, r: 0 },
      { d: 92160, r: 3 },
      { d: 38400, r: 0 },
    ]);
    expect(timelineEntries(gappy.segments)).toEqual([
      { t: 0, d: 1000, r: 1 },
      { d: 2000, r: 0 },
      { t: 4007, d: 2000, r: 1 },
      { d: 500, r: 0 },
    ]);
  });

  it("numbers segments like the files: startNumber 1 and $Number%05d$ give segmentName(n)", () => {
    const mpd = parseMpd(writeDashManifest(input()));
    for (const set of [setOf(mpd, "video"), setOf(mpd, "audio")]) {
      for (const rep of kids(set, "Representation")) {
        const template = templateFor(set, rep);
        const id = attr(rep, "id") as string;
        expect(attr(template, "startNumber")).toBe("1");
        expect(expandTemplate(attr(template, "initialization") as string, id, 0)).toBe(
          `${id}/${INIT_SEGMENT}`,
        );
        expandTimeline(template).forEach((_, i) => {
          expect(expandTemplate(attr(template, "media") as string, id, i + 1)).toBe(
            `${id}/${segmentName(i + 1)}`,
          );
        });
      }
    }
  });

  it("shares one SegmentTemplate when the rungs' timelines agree, else gives each Representation its own", () => {
    const shared = setOf(parseMpd(writeDashManifest(input())), "video");
    expect(shared.SegmentTemplate).toBeDefined();
    for (const r of kids(shared, "Representation")) expect(r.SegmentTemplate).toBeUndefined();

    const base = input();
    const other = { ...(base.rungs[2] as DashInput["rungs"][number]), track: track(90000, [90000, 180000]) };
    const split = setOf(
      parseMpd(writeDashManifest({ ...base, rungs: [base.rungs[0], other] as never })),
      "video",
    );
    expect(split.SegmentTemplate).toBeUndefined();
    expect(attr(split, "segmentAlignment")).toBe("false");
    const timescales = kids(split, "Representation").map((r) => attr(r.SegmentTemplate, "timescale"));
    expect(timescales.sort()).toEqual(["15360", "90000"]);
  });

  it("sets @bandwidth by DASH's rule: after minBufferTime x bandwidth bits, every segment arrives in time", () => {
    const sizes = [400_000, 300_000, 500_000, 3_000_000, 900_000, 900_000, 4_200_000, 100_000];
    const t = video(sizes);
    const m = 6;
    const b = dashBandwidth(t, m);
    // Delivered at b from any segment k, segment i is whole by its presentation time (m + its offset).
    const inTime = (rate: number) =>
      t.segments.every((sk, k) => {
        let bits = 0;
        return t.segments.slice(k).every((si) => {
          bits += si.bytes * 8;
          return bits / rate <= m + (si.start - sk.start) / t.timescale + 1e-9;
        });
      });
    expect(inTime(b)).toBe(true);
    expect(inTime(b * 0.99)).toBe(false); // and it is the smallest such rate
    const seconds = VIDEO_SECONDS.reduce((s, d) => s + d, 0);
    const average = (sizes.reduce((s, x) => s + x, 0) * 8) / seconds;
    const peak = Math.max(...sizes.map((x, i) => (x * 8) / (VIDEO_SECONDS[i] as number)));
    expect(b).toBeGreaterThan(average);
    expect(b).toBeLessThanOrEqual(peak);

    const mpd = parseMpd(writeDashManifest(input({ rungs: [{ ...input().rungs[0], track: t } as never] })));
    const rep = kids(setOf(mpd, "video"), "Representation")[0];
    expect(attr(rep, "bandwidth")).toBe(String(dashBandwidth(t, 6.016)));
  });

  it("writes frame rates as DASH spells them, exact for NTSC rates", () => {
    const rate = (frameRate: DashInput["rungs"][number]["frameRate"]) => {
      const base = input().rungs[0] as DashInput["rungs"][number];
      const v = setOf(parseMpd(writeDashManifest(input({ rungs: [{ ...base, frameRate }] }))), "video");
      return [attr(kids(v, "Representation")[0], "frameRate"), attr(v, "maxFrameRate")];
    };
    expect(rate(30)).toEqual(["30", "30"]);
    expect(rate({ num: 60000, den: 2002 })).toEqual(["30000/1001", "30000/1001"]);
    expect(rate(30000 / 1001)).toEqual(["30000/1001", "30000/1001"]);
    expect(rate(12.5)).toEqual(["25/2", "25/2"]);
  });

  it("refuses what would make a wrong manifest", () => {
    const rung = input().rungs[0] as DashInput["rungs"][number];
    const bad = (over: Partial<DashInput["rungs"][number]>) => () =>
      writeDashManifest(input({ rungs: [{ ...rung, ...over }] }));
    expect(bad({ codecs: "avc1.640028,mp4a.40.2" })).toThrow(/video's only/);
    expect(bad({ name: "../x" })).toThrow(/folder name/);
    expect(bad({ name: "a$b" })).toThrow(/folder name/);
    expect(bad({ track: overlap() })).toThrow(/before/);
    expect(bad({ track: { timescale: 0, segments: video().segments } })).toThrow(/timescale/);
    expect(bad({ track: { timescale: 1000, segments: [] } })).toThrow(/at least one segment/);
    expect(() => writeDashManifest(input({ rungs: [] }))).toThrow(/at least one video rung/);
  });
});

function overlap(): DashTrack {
  const t = track(1000, [1000, 1000]);
  (t.segments[1] as DashSegment).start = 999;
  return t;
}

const HOSTILE = `"<&>`;

describe("subtitles", () => {
  const subtitles = [
    { language: "en", label: "English", url: "subtitles/en.vtt" },
    { language: "pt-BR", label: `${HOSTILE} '\t\n`, url: `https://cdn.example/a.vtt?x=1&y="2"<` },
  ];

  it("renders text AdaptationSets with lang, Label, the subtitle Role and a BaseURL", () => {
    const text = writeDashManifest(input({ subtitles }));
    expect(text).not.toContain(HOSTILE);
    const mpd = parseMpd(text);
    const texts = sets(mpd).filter((s) => attr(s, "contentType") === "text");
    expect(texts.map((s) => [attr(s, "mimeType"), attr(s, "lang")])).toEqual([
      ["text/vtt", "en"],
      ["text/vtt", "pt-BR"],
    ]);
    expect(texts.map((s) => s.Label)).toEqual(["English", `${HOSTILE} '\t\n`]);
    for (const s of texts) {
      expect(kids(s, "Role").map((r) => [attr(r, "schemeIdUri"), attr(r, "value")])).toEqual([
        ["urn:mpeg:dash:role:2011", "subtitle"],
      ]);
    }
    expect(texts.map((s) => one(kids(s, "Representation")[0], "BaseURL"))).toEqual([
      "subtitles/en.vtt",
      `https://cdn.example/a.vtt?x=1&y="2"<`,
    ]);
  });

  it("keeps an attribute that a hostile language would break out of", () => {
    const text = writeDashManifest(
      input({ subtitles: [{ language: `en" onload="x`, label: "a", url: "b" }] }),
    );
    const set = setOf(parseMpd(text), "text");
    expect(attr(set, "lang")).toBe(`en" onload="x`);
    expect(attr(set, "onload")).toBeUndefined();
    // Characters XML 1.0 cannot carry at all are dropped rather than written.
    const ctl = writeDashManifest(
      input({ subtitles: [{ language: "en", label: "a\u0000b\u001bc", url: "u" }] }),
    );
    expect(setOf(parseMpd(ctl), "text").Label).toBe("abc");
  });

  it("addDashSubtitles inserts the same sets before </Period> of an existing MPD", () => {
    const plain = writeDashManifest(input());
    expect(addDashSubtitles(plain, subtitles)).toBe(writeDashManifest(input({ subtitles })));
    expect(addDashSubtitles(plain, [])).toBe(plain);
    // Twice (captions added later): ids stay unique, the MPD stays valid.
    const twice = addDashSubtitles(addDashSubtitles(plain, subtitles.slice(0, 1)), subtitles.slice(0, 1));
    const ids = sets(parseMpd(twice)).flatMap((s) => kids(s, "Representation").map((r) => attr(r, "id")));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toContain("subtitles-en-2");
    // Not ours, on one line: still valid.
    const oneLine = `<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"><Period><AdaptationSet/></Period></MPD>`;
    expect(sets(parseMpd(addDashSubtitles(oneLine, subtitles)))).toHaveLength(3);
    expect(() => addDashSubtitles("<MPD/>", subtitles)).toThrow(/Period/);
  });
});

/** Builds a small real ladder like the transcoder's: two rungs and audio, fMP4 HLS, 1, 2, 4, 1 s segments. */
async function makeLadder(dir: string): Promise<void> {
  await exec("ffmpeg", [
    ...["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=30"],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
    ...["-filter_complex", "[0:v]split=2[a][b];[a]scale=640:360[v1];[b]scale=320:180[v2]"],
    ...["-map", "[v1]", "-map", "[v2]", "-map", "1:a", "-t", "8"],
    ...["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "1000", "-sc_threshold", "0"],
    ...["-force_key_frames", "expr:eq(t,0)+eq(t,1)+eq(t,3)+eq(t,7)"],
    ...["-c:a", "aac", "-b:a", "64k", "-ac", "2", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"],
    ...["-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4", "-start_number", "1"],
    ...["-hls_segment_filename", join(dir, "%v", "seg_%05d.m4s")],
    ...["-var_stream_map", `v:0,name:360p v:1,name:180p a:0,name:${AUDIO_FOLDER}`],
    join(dir, "%v", VARIANT_PLAYLIST),
  ]);
  // The hls muxer numbers inits per stream (init_0.mp4); the transcoder publishes them as init.mp4.
  for (const folder of ["360p", "180p", AUDIO_FOLDER]) {
    const init = (await readdir(join(dir, folder))).find((f) => /^init_\d+\.mp4$/.test(f)) as string;
    await rename(join(dir, folder, init), join(dir, folder, INIT_SEGMENT));
  }
}

const segmentFiles = async (folder: string) =>
  (await readdir(folder)).filter((f) => SEGMENT_FILE.test(f)).sort();

/** Every sample in a track's segments, counted with the fMP4 reader. */
async function sampleCount(folder: string): Promise<number> {
  const info = readTrackInfo(await readFile(join(folder, INIT_SEGMENT)));
  let n = 0;
  for (const f of await segmentFiles(folder)) {
    const buf = await readFile(join(folder, f));
    for (const box of readBoxes(buf))
      if (box.type === "moof") n += readFragment(buf.subarray(box.start), info).sampleCount;
  }
  return n;
}

describe("with real media (ffmpeg's dash demuxer)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "dash-"));
    await makeLadder(dir);
  }, 60_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const readTrack = async (folder: string) =>
    readDashTrack({
      initPath: join(dir, folder, INIT_SEGMENT),
      segmentPaths: (await segmentFiles(join(dir, folder))).map((f) => join(dir, folder, f)),
    });

  it("reads exact timing that agrees with the HLS playlists", async () => {
    for (const folder of ["360p", "180p", AUDIO_FOLDER]) {
      const t = await readTrack(folder);
      const playlist = parseMediaPlaylist(await readFile(join(dir, folder, VARIANT_PLAYLIST), "utf8"));
      expect(t.segments).toHaveLength(playlist.segments.length);
      t.segments.forEach((s, i) => {
        expect(Math.abs(s.duration / t.timescale - (playlist.segments[i]?.duration as number))).toBeLessThan(
          0.001,
        );
        if (i > 0)
          expect(s.start).toBe(
            (t.segments[i - 1] as DashSegment).start + (t.segments[i - 1] as DashSegment).duration,
          );
      });
    }
    const v = await readTrack("360p");
    expect(v.segments.map((s) => s.duration / v.timescale)).toEqual([1, 2, 4, 1]);
  });

  it("reads a segment of several fragments (the chunked encoder writes one per GOP), refusing gaps", async () => {
    const folder = join(dir, "360p");
    const [one, two, three] = await Promise.all([1, 2, 3].map((n) => readFile(join(folder, segmentName(n)))));
    await writeFile(join(dir, "joined.m4s"), Buffer.concat([one, two] as Buffer[]));
    await writeFile(join(dir, "gap.m4s"), Buffer.concat([one, three] as Buffer[]));
    const initPath = join(folder, INIT_SEGMENT);
    const whole = await readTrack("360p");
    const joined = await readDashTrack({ initPath, segmentPaths: [join(dir, "joined.m4s")] });
    const [s1, s2] = whole.segments as [DashSegment, DashSegment];
    expect(joined.segments).toEqual([
      { start: s1.start, duration: s1.duration + s2.duration, bytes: s1.bytes + s2.bytes },
    ]);
    await expect(readDashTrack({ initPath, segmentPaths: [join(dir, "gap.m4s")] })).rejects.toThrow(
      /does not follow on/,
    );
  });

  it("writes a manifest.mpd that ffmpeg decodes whole: every representation, every frame", async () => {
    const rung = async (name: string) => {
      const init = parseAvcInit(new Uint8Array(await readFile(join(dir, name, INIT_SEGMENT))));
      return { name, ...init, frameRate: { num: 30, den: 1 }, track: await readTrack(name) };
    };
    const dashInput: DashInput = {
      rungs: [await rung("360p"), await rung("180p")],
      audio: { track: await readTrack(AUDIO_FOLDER), samplingRate: 48000, channels: 2 },
    };
    const text = writeDashManifest(dashInput);
    const mpdPath = join(dir, "manifest.mpd");
    await writeFile(mpdPath, text);
    const mpd = parseMpd(text);
    const video = setOf(mpd, "video");
    expect(video.SegmentTemplate).toBeDefined(); // rungs share their boundaries

    // Every URL the templates name is a file that exists, and every segment file is named.
    for (const set of [video, setOf(mpd, "audio")]) {
      for (const rep of kids(set, "Representation")) {
        const template = templateFor(set, rep);
        const id = attr(rep, "id") as string;
        const named = expandTimeline(template).map((_, i) =>
          expandTemplate(attr(template, "media") as string, id, i + 1),
        );
        expect(named).toEqual((await segmentFiles(join(dir, id))).map((f) => `${id}/${f}`));
      }
    }

    // Decode every stream through the MPD; framecrc prints one line per decoded frame, by stream index.
    const decode = await exec("ffmpeg", ["-v", "error", "-i", mpdPath, "-map", "0", "-f", "framecrc", "-"], {
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(decode.stderr).toBe("");
    const frames = new Map<string, number>();
    for (const line of decode.stdout.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      const index = line.split(",")[0] as string;
      frames.set(index, (frames.get(index) ?? 0) + 1);
    }
    const probe = await exec("ffprobe", [
      ...["-v", "error", "-of", "json", "-show_entries", "stream=index,codec_type,width,height", mpdPath],
    ]);
    const streams = (JSON.parse(probe.stdout) as { streams: Record<string, string | number>[] }).streams;
    const decoded = streams.map(
      (s) => `${s.codec_type}:${s.width ?? ""}x${s.height ?? ""}:${frames.get(String(s.index))}`,
    );
    const audioFrames = await sampleCount(join(dir, AUDIO_FOLDER));
    expect(decoded.sort()).toEqual([`audio:x:${audioFrames}`, "video:320x180:240", "video:640x360:240"]);
  }, 60_000);

  it("stays readable by libxml2 (ffmpeg's dash demuxer) with a hostile subtitle label added", async () => {
    await writeFile(join(dir, "captions.vtt"), "WEBVTT\n\n00:00.000 --> 00:02.000\nhello\n");
    const plain = await readFile(join(dir, "manifest.mpd"), "utf8");
    const text = addDashSubtitles(plain, [{ language: "en", label: HOSTILE, url: "captions.vtt" }]);
    const mpdPath = join(dir, "with-subtitles.mpd");
    await writeFile(mpdPath, text);
    // ffmpeg 5.1's dash demuxer only opens the side-loaded .vtt with allowed_extensions ALL, and then
    // stops reading after the first packets, so this checks the parse and the streams, not decoding.
    const probe = await exec("ffprobe", [
      ...["-v", "error", "-allowed_extensions", "ALL", "-of", "json", "-show_entries", "stream=codec_type"],
      mpdPath,
    ]);
    const streams = (JSON.parse(probe.stdout) as { streams: { codec_type: string }[] }).streams;
    expect(streams.map((s) => s.codec_type).sort()).toEqual(["audio", "subtitle", "video", "video"]);
  }, 60_000);
});
