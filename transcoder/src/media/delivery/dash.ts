import { readFile } from "node:fs/promises";
import { AUDIO_FOLDER, INIT_SEGMENT, SEGMENT_PATTERN } from "@streamlet/shared";
import { Mp4FormatError, readBoxes, readFragment, readTrackInfo, type TrackInfo } from "../chunks/fmp4.ts";
import { AAC_LC } from "../master-playlist.ts";
import { type Rational, reduce } from "../rational.ts";

/**
 * The DASH manifest (manifest.mpd) over the very CMAF segments the HLS playlists list: a static MPD whose
 * SegmentTemplate points at <rung>/init.mp4 and <rung>/seg_NNNNN.m4s, with an exact SegmentTimeline in
 * each track's own timescale (read from tfdt/trun), so no second copy of the media is stored.
 */

/** One media segment, in its track's timescale ticks (exact: from tfdt and trun, not from EXTINF). */
export interface DashSegment {
  /** Earliest presentation time of its first sample (tfdt plus the smallest composition offset). */
  start: number;
  /** Sum of its sample durations. */
  duration: number;
  /** Its size in bytes: what @bandwidth is computed from. */
  bytes: number;
}

/** A track's timing as its files say it: mdhd timescale and every segment in order (seg_00001 first). */
export interface DashTrack {
  timescale: number;
  segments: DashSegment[];
}

/** A video rung: its folder name is its Representation id, which the templates substitute into URLs. */
export interface DashVideoRung {
  /** The rung's folder ("720p"). */
  name: string;
  width: number;
  height: number;
  /** The video codec only, e.g. "avc1.640028" (never combined with the audio's). */
  codecs: string;
  /** Exact when a Rational (30000/1001); a number is matched to n/1001 or n/1000 first. */
  frameRate: number | Rational;
  track: DashTrack;
}

/** The single audio track (folder AUDIO_FOLDER). */
export interface DashAudio {
  track: DashTrack;
  /** Hz, e.g. 48000. */
  samplingRate: number;
  channels: number;
  /** Defaults to AAC-LC, "mp4a.40.2". */
  codecs?: string;
  /** BCP 47; "und" when not known. */
  language?: string;
}

/** A side-loaded WebVTT file (the owner's captions). */
export interface DashSubtitle {
  /** BCP 47 language tag ("en", "pt-BR"). */
  language: string;
  /** What the player's menu shows. */
  label: string;
  /** Where the .vtt is, relative to the MPD or absolute. */
  url: string;
}

export interface DashInput {
  rungs: DashVideoRung[];
  audio: DashAudio | null;
  subtitles?: DashSubtitle[];
  /** @minBufferTime in seconds; defaults to the longest segment of any track. */
  minBufferSeconds?: number;
}

const PROFILE_LIVE = "urn:mpeg:dash:profile:isoff-live:2011";
const ROLE_SCHEME = "urn:mpeg:dash:role:2011";
const CHANNEL_SCHEME = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011";
const INITIALIZATION = `$RepresentationID$/${INIT_SEGMENT}`;
/** SEGMENT_PATTERN ("seg_%05d.m4s") in DASH's template syntax: "$Number%05d$". */
const MEDIA = `$RepresentationID$/${SEGMENT_PATTERN.replace(/%0?\d*d/, (format) => `$Number${format}$`)}`;
if (!MEDIA.includes("$Number")) throw new Error(`SEGMENT_PATTERN has no number format: ${SEGMENT_PATTERN}`);
/** Representation ids become path segments through $RepresentationID$: folder-name characters only. */
const REPRESENTATION_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Writes a static MPD for the published ladder, so DASH players (dash.js, ExoPlayer, ffmpeg) play the
 * same segments as HLS players; pure, so it is tested on tables and written once the ladder is final.
 */
export function writeDashManifest(input: DashInput): string {
  if (input.rungs.length === 0) throw new Error("a DASH manifest needs at least one video rung");
  const tracks = [...input.rungs.map((r) => r.track), ...(input.audio ? [input.audio.track] : [])];
  tracks.forEach(checkTrack);
  const longest = Math.max(...tracks.flatMap((t) => t.segments.map((s) => s.duration / t.timescale)));
  const minBuffer = roundUpMillis(input.minBufferSeconds ?? longest);
  if (!(minBuffer > 0)) throw new Error(`minBufferTime must be positive, got ${input.minBufferSeconds}`);
  const end = Math.max(...tracks.map((t) => trackEnd(t) / t.timescale));

  const sets = [videoSet(input.rungs, minBuffer)];
  if (input.audio) sets.push(audioSet(input.audio, minBuffer));
  const taken = new Set([...input.rungs.map((r) => r.name), ...(input.audio ? [AUDIO_FOLDER] : [])]);
  sets.push(...subtitleSets(input.subtitles ?? [], taken));

  const mpd = element(
    "MPD",
    [
      ["xmlns", "urn:mpeg:dash:schema:mpd:2011"],
      ["profiles", PROFILE_LIVE],
      ["type", "static"],
      ["mediaPresentationDuration", isoSeconds(roundUpMillis(end))],
      ["minBufferTime", isoSeconds(minBuffer)],
    ],
    [
      element(
        "Period",
        [
          ["id", "0"],
          ["start", "PT0S"],
        ],
        sets,
      ),
    ],
  );
  return `<?xml version="1.0" encoding="UTF-8"?>\n${render(mpd, "")}`;
}

/**
 * DASH's @bandwidth (ISO/IEC 23009-1 5.3.5.2): the smallest constant rate at which, starting at any
 * segment and after minBufferTime x bandwidth bits have arrived, every later segment is whole before its
 * presentation starts. Between the average (too low: stalls on busy stretches) and the peak segment rate.
 */
export function dashBandwidth(track: DashTrack, minBufferSeconds: number): number {
  const { segments, timescale } = track;
  let needed = 0;
  for (let k = 0; k < segments.length; k++) {
    const from = (segments[k] as DashSegment).start;
    let bits = 0;
    for (let i = k; i < segments.length; i++) {
      const s = segments[i] as DashSegment;
      bits += s.bytes * 8;
      needed = Math.max(needed, bits / (minBufferSeconds + (s.start - from) / timescale));
    }
  }
  return Math.max(1, Math.ceil(needed));
}

/** Reads a published track's exact timing and sizes from its init (mdhd) and segments (tfdt/trun). */
export async function readDashTrack(track: {
  initPath: string;
  segmentPaths: readonly string[];
}): Promise<DashTrack> {
  const info = readTrackInfo(await readFile(track.initPath));
  const segments: DashSegment[] = [];
  for (const path of track.segmentPaths) segments.push(segmentTiming(await readFile(path), info, path));
  return { timescale: info.timescale, segments };
}

/** One segment's timing: its moof+mdat fragments (styp, sidx skipped) must follow on without gaps. */
function segmentTiming(buf: Buffer, info: TrackInfo, path: string): DashSegment {
  let start: bigint | null = null;
  let nextDecode: bigint | null = null;
  let duration = 0;
  for (const box of readBoxes(buf)) {
    if (box.type !== "moof") continue;
    const fragment = readFragment(buf.subarray(box.start, box.end), info);
    if (nextDecode !== null && fragment.baseMediaDecodeTime !== nextDecode) {
      throw new Mp4FormatError(`${path}: fragment at byte ${box.start} does not follow on the one before`);
    }
    if (start === null || fragment.earliestPresentation < start) start = fragment.earliestPresentation;
    nextDecode = fragment.baseMediaDecodeTime + BigInt(fragment.duration);
    duration += fragment.duration;
  }
  if (start === null) throw new Mp4FormatError(`${path} has no moof`);
  return { start: Number(start), duration, bytes: buf.length };
}

function checkTrack(track: DashTrack): void {
  if (!(Number.isSafeInteger(track.timescale) && track.timescale > 0)) {
    throw new Error(`timescale must be a positive integer, got ${track.timescale}`);
  }
  if (track.segments.length === 0) throw new Error("a track needs at least one segment");
  let end = 0;
  track.segments.forEach((s, i) => {
    const ok = Number.isSafeInteger(s.start) && Number.isSafeInteger(s.duration) && s.duration > 0;
    if (!ok || s.start < 0) throw new Error(`segment ${i + 1} has start ${s.start}, duration ${s.duration}`);
    if (s.start < end)
      throw new Error(`segment ${i + 1} starts at ${s.start}, before the last ended (${end})`);
    if (!(Number.isSafeInteger(s.bytes) && s.bytes >= 0))
      throw new Error(`segment ${i + 1} has ${s.bytes} bytes`);
    end = s.start + s.duration;
  });
}

const trackEnd = (t: DashTrack) => {
  const last = t.segments[t.segments.length - 1] as DashSegment;
  return last.start + last.duration;
};

/** One <S>: t only where a segment does not start where the one before ended; r repeats. */
export interface TimelineEntry {
  t?: number;
  d: number;
  r: number;
}

/** Run-length compresses a track's segments into SegmentTimeline entries. */
export function timelineEntries(segments: readonly DashSegment[]): TimelineEntry[] {
  const entries: TimelineEntry[] = [];
  let end: number | null = null;
  for (const s of segments) {
    const last = entries[entries.length - 1];
    if (last && s.start === end && s.duration === last.d) last.r++;
    else entries.push({ ...(s.start === end ? {} : { t: s.start }), d: s.duration, r: 0 });
    end = s.start + s.duration;
  }
  return entries;
}

function segmentTemplate(track: DashTrack): XmlElement {
  const timeline = timelineEntries(track.segments).map((e) =>
    element("S", [
      ["t", e.t],
      ["d", e.d],
      ["r", e.r > 0 ? e.r : undefined],
    ]),
  );
  return element(
    "SegmentTemplate",
    [
      ["timescale", track.timescale],
      ["initialization", INITIALIZATION],
      ["media", MEDIA],
      ["startNumber", 1],
    ],
    [element("SegmentTimeline", [], timeline)],
  );
}

function videoSet(rungs: readonly DashVideoRung[], minBuffer: number): XmlElement {
  for (const r of rungs) {
    if (!REPRESENTATION_ID.test(r.name))
      throw new Error(`rung name ${JSON.stringify(r.name)} is not a folder name`);
    if (r.codecs.includes(","))
      throw new Error(`rung ${r.name}: codecs must be the video's only (${r.codecs})`);
  }
  if (new Set(rungs.map((r) => r.name)).size !== rungs.length) throw new Error("rung names must differ");
  const ordered = rungs
    .map((r) => ({ rung: r, bandwidth: dashBandwidth(r.track, minBuffer) }))
    .sort((a, b) => a.bandwidth - b.bandwidth || a.rung.height - b.rung.height);
  // One template for the set when every rung has the same timeline (the ladder's case), else one each.
  const keys = new Set(
    rungs.map((r) => `${r.track.timescale}:${JSON.stringify(timelineEntries(r.track.segments))}`),
  );
  const shared = keys.size === 1;
  const rates = rungs.map((r) => frameRateOf(r.frameRate));
  const fastest = rates.reduce((a, b) => (a.num * b.den >= b.num * a.den ? a : b));
  const pars = new Set(rungs.map((r) => aspectRatio(r.width, r.height)));
  const par = pars.size === 1 ? [...pars][0] : undefined;
  return element(
    "AdaptationSet",
    [
      ["contentType", "video"],
      ["mimeType", "video/mp4"],
      ["segmentAlignment", aligned(rungs.map((r) => r.track)) ? "true" : "false"],
      ["startWithSAP", 1],
      ["maxWidth", Math.max(...rungs.map((r) => r.width))],
      ["maxHeight", Math.max(...rungs.map((r) => r.height))],
      ["maxFrameRate", formatFrameRate(fastest)],
      ["par", par],
    ],
    [
      element("Role", [
        ["schemeIdUri", ROLE_SCHEME],
        ["value", "main"],
      ]),
      ...(shared ? [segmentTemplate((rungs[0] as DashVideoRung).track)] : []),
      ...ordered.map(({ rung, bandwidth }) =>
        element(
          "Representation",
          [
            ["id", rung.name],
            ["bandwidth", bandwidth],
            ["codecs", rung.codecs],
            ["width", rung.width],
            ["height", rung.height],
            ["frameRate", formatFrameRate(frameRateOf(rung.frameRate))],
            ["sar", "1:1"],
          ],
          shared ? [] : [segmentTemplate(rung.track)],
        ),
      ),
    ],
  );
}

function audioSet(audio: DashAudio, minBuffer: number): XmlElement {
  return element(
    "AdaptationSet",
    [
      ["contentType", "audio"],
      ["mimeType", "audio/mp4"],
      ["lang", audio.language ?? "und"],
      ["segmentAlignment", "true"],
      ["startWithSAP", 1],
    ],
    [
      element("Role", [
        ["schemeIdUri", ROLE_SCHEME],
        ["value", "main"],
      ]),
      segmentTemplate(audio.track),
      element(
        "Representation",
        [
          ["id", AUDIO_FOLDER],
          ["bandwidth", dashBandwidth(audio.track, minBuffer)],
          ["codecs", audio.codecs ?? AAC_LC],
          ["audioSamplingRate", audio.samplingRate],
        ],
        [
          element("AudioChannelConfiguration", [
            ["schemeIdUri", CHANNEL_SCHEME],
            ["value", audio.channels],
          ]),
        ],
      ),
    ],
  );
}

/** Whether every track's segment boundaries fall at the same instants (exact, across timescales). */
function aligned(tracks: readonly DashTrack[]): boolean {
  const [first, ...rest] = tracks as [DashTrack, ...DashTrack[]];
  const same = (a: number, sa: number, b: number, sb: number) =>
    BigInt(a) * BigInt(sb) === BigInt(b) * BigInt(sa);
  return rest.every(
    (t) =>
      t.segments.length === first.segments.length &&
      t.segments.every((s, i) => {
        const f = first.segments[i] as DashSegment;
        return (
          same(s.start, t.timescale, f.start, first.timescale) &&
          same(s.start + s.duration, t.timescale, f.start + f.duration, first.timescale)
        );
      }),
  );
}

function frameRateOf(rate: number | Rational): Rational {
  if (typeof rate !== "number") {
    if (!(Number.isSafeInteger(rate.num) && Number.isSafeInteger(rate.den) && rate.num > 0 && rate.den > 0)) {
      throw new Error(`frame rate ${rate.num}/${rate.den} is not a positive rational`);
    }
    return reduce(rate);
  }
  if (!(Number.isFinite(rate) && rate > 0)) throw new Error(`frame rate ${rate} is not positive`);
  for (const den of [1, 1001, 1000]) {
    const num = Math.round(rate * den);
    if (Math.abs(num / den - rate) < 1e-6 * rate) return reduce({ num, den });
  }
  return reduce({ num: Math.round(rate * 1000), den: 1000 });
}

const formatFrameRate = (r: Rational) => (r.den === 1 ? String(r.num) : `${r.num}/${r.den}`);

/** Picture aspect ratio as small integers ("16:9"), within 0.5%, so 854x480 still says 16:9. */
function aspectRatio(width: number, height: number): string {
  const ratio = width / height;
  for (let den = 1; den <= 64; den++) {
    const num = Math.round(ratio * den);
    if (num > 0 && Math.abs(num / den - ratio) <= 0.005 * ratio) return `${num}:${den}`;
  }
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(width, height);
  return `${width / g}:${height / g}`;
}

const roundUpMillis = (seconds: number) => Math.ceil(Math.round(seconds * 1e6) / 1e3) / 1e3;
const isoSeconds = (seconds: number) => `PT${seconds.toFixed(3)}S`;

// --- XML: a tiny element tree, every attribute value and text escaped on the way out.

type AttrValue = string | number | undefined;
interface XmlElement {
  name: string;
  attrs: [string, AttrValue][];
  children: XmlElement[];
  text?: string;
}

function element(name: string, attrs: [string, AttrValue][], children: XmlElement[] = [], text?: string) {
  return { name, attrs, children, ...(text === undefined ? {} : { text }) } satisfies XmlElement;
}

function render(node: XmlElement, indent: string): string {
  const attrs = node.attrs
    .filter((a): a is [string, string | number] => a[1] !== undefined)
    .map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`)
    .join("");
  if (node.text !== undefined)
    return `${indent}<${node.name}${attrs}>${escapeXml(node.text)}</${node.name}>\n`;
  if (node.children.length === 0) return `${indent}<${node.name}${attrs}/>\n`;
  const inner = node.children.map((c) => render(c, `${indent}  `)).join("");
  return `${indent}<${node.name}${attrs}>\n${inner}${indent}</${node.name}>\n`;
}

function subtitleSets(subtitles: readonly DashSubtitle[], taken: Set<string>): XmlElement[] {
  return subtitles.map((s) => {
    const base = `subtitles-${s.language.replace(/[^A-Za-z0-9-]/g, "_") || "und"}`;
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
    taken.add(id);
    return element(
      "AdaptationSet",
      [
        ["contentType", "text"],
        ["mimeType", "text/vtt"],
        ["lang", s.language],
      ],
      [
        element("Label", [], [], s.label),
        element("Role", [
          ["schemeIdUri", ROLE_SCHEME],
          ["value", "subtitle"],
        ]),
        // @bandwidth is mandatory; one small side-loaded file has no rate to measure.
        element(
          "Representation",
          [
            ["id", id],
            ["bandwidth", 256],
          ],
          [element("BaseURL", [], [], s.url)],
        ),
      ],
    );
  });
}

/**
 * Adds side-loaded WebVTT AdaptationSets to an MPD's text before its </Period>: the edge does this at
 * serve time when the owner adds captions, so it is plain string work (no Node APIs, no imports used).
 */
export function addDashSubtitles(mpd: string, subtitles: readonly DashSubtitle[]): string {
  const at = mpd.lastIndexOf("</Period>");
  if (at < 0) throw new Error("the MPD has no </Period> to add subtitles before");
  if (subtitles.length === 0) return mpd;
  // Indented like the Period's other children when </Period> sits on its own line (as written here).
  const lineStart = mpd.lastIndexOf("\n", at - 1) + 1;
  const onOwnLine = /^[ \t]*$/.test(mpd.slice(lineStart, at));
  const indent = onOwnLine ? mpd.slice(lineStart, at) : "";
  const insertAt = onOwnLine ? lineStart : at;
  const taken = new Set(Array.from(mpd.matchAll(/\sid="([^"]*)"/g), (m) => m[1] as string));
  const sets = subtitleSets(subtitles, taken)
    .map((s) => render(s, `${indent}  `))
    .join("");
  return `${mpd.slice(0, insertAt)}${sets}${mpd.slice(insertAt)}`;
}

/**
 * Escapes text for an XML attribute value or element content; drops what XML 1.0 cannot carry at all
 * (control characters, lone surrogates) and keeps tabs and line breaks as character references.
 */
export function escapeXml(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, "")
    .replace(/[&<>"'\t\n\r]/g, (c) => XML_ESCAPES[c] as string);
}

const XML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  "\t": "&#9;",
  "\n": "&#10;",
  "\r": "&#13;",
};
