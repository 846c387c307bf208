/**
 * Caption files as owners upload them (WebVTT or SRT, any line endings, maybe a BOM) turned into the one
 * WebVTT text the edge stores and serves, or refused with the line that is wrong. Pure: no I/O.
 */

/** A caption file that cannot be served; `line` is 1-based in the uploaded text. */
export class InvalidCaptions extends Error {
  override name = "InvalidCaptions";
  readonly line: number;

  constructor(line: number, problem: string) {
    super(`line ${line}: ${problem}`);
    this.line = line;
  }
}

/** No video runs longer than a day: a cue beyond that is a broken timestamp, not a long film. */
export const MAX_CUE_SECONDS = 24 * 60 * 60;

export type CaptionFormat = "vtt" | "srt";

/**
 * The uploaded bytes as WebVTT: UTF-8 only (binary and other encodings refused), BOM dropped, line
 * endings made LF, SRT converted; throws InvalidCaptions naming the first bad line.
 */
export function toWebVtt(bytes: Uint8Array): { vtt: string; format: CaptionFormat; cues: number } {
  const lines = splitLines(decodeText(bytes));
  const format = detectFormat(lines);
  const { vtt, cues } = format === "vtt" ? normaliseVtt(lines) : srtToVtt(lines);
  return { vtt, format, cues };
}

/** Strict UTF-8 without the BOM; NUL and other control characters (binary data) refused by line. */
export function decodeText(bytes: Uint8Array): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new InvalidCaptions(
      lineOfFirstInvalidByte(bytes),
      "not UTF-8 text (binary data or another encoding)",
    );
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
  const control = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.exec(text);
  if (control) {
    const line = text.slice(0, control.index).split(/\r\n|\r|\n/).length;
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    throw new InvalidCaptions(line, `control character U+${code} (binary data?)`);
  }
  return text;
}

function lineOfFirstInvalidByte(bytes: Uint8Array): number {
  const decoded = new TextDecoder("utf-8").decode(bytes);
  const bad = decoded.indexOf("\uFFFD");
  return bad < 0 ? 1 : decoded.slice(0, bad).split(/\r\n|\r|\n/).length;
}

const splitLines = (text: string) => text.split(/\r\n|\r|\n/);

/** WebVTT when the first line is the WEBVTT signature; SRT when the first text is a cue number or timing. */
function detectFormat(lines: readonly string[]): CaptionFormat {
  if (/^WEBVTT(?:[ \t]|$)/.test(lines[0] ?? "")) return "vtt";
  const first = lines.findIndex((line) => line.trim() !== "");
  if (first < 0) throw new InvalidCaptions(1, "the file is empty");
  const text = (lines[first] ?? "").trim();
  if (/^\d+$/.test(text) || SRT_TIMING.test(text)) return "srt";
  throw new InvalidCaptions(
    first + 1,
    "neither WebVTT (must start with WEBVTT) nor SRT (must start with a cue number)",
  );
}

// HH:MM:SS.mmm or MM:SS.mmm (WebVTT), exactly as the spec has it.
const VTT_TIME = "(?:(\\d{2,}):)?([0-5]\\d):([0-5]\\d)\\.(\\d{3})";
const VTT_TIMING = new RegExp(`^${VTT_TIME}[ \\t]+-->[ \\t]+${VTT_TIME}(?:[ \\t]+(.*))?$`);
// SRT as found in the wild: H:MM:SS,mmm (comma or dot, 1-3 fraction digits), maybe trailing coordinates.
const SRT_TIME = "(\\d{1,3}):([0-5]?\\d):([0-5]?\\d)[,.](\\d{1,3})";
const SRT_TIMING = new RegExp(`^${SRT_TIME}[ \\t]*-->[ \\t]*${SRT_TIME}(?:[ \\t]+.*)?$`);
const CUE_SETTING = /^(?:vertical|line|position|size|align|region):\S+$/;

const seconds = (h: string | undefined, m: string, s: string, fraction: string) =>
  Number(h ?? 0) * 3600 + Number(m) * 60 + Number(s) + Number(fraction.padEnd(3, "0")) / 1000;

/** Seconds as a WebVTT timestamp (HH:MM:SS.mmm). */
export function formatTimestamp(totalSeconds: number): string {
  const ms = Math.round(totalSeconds * 1000);
  const pad = (n: number, width = 2) => String(n).padStart(width, "0");
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)}.${pad(ms % 1000, 3)}`;
}

function checkSpan(start: number, end: number, line: number) {
  if (end <= start) {
    throw new InvalidCaptions(line, "the cue ends before it starts (end must be after start)");
  }
  if (end > MAX_CUE_SECONDS) {
    throw new InvalidCaptions(line, `the cue ends after ${MAX_CUE_SECONDS / 3600} hours`);
  }
}

/** Splits lines into blocks separated by blank lines, each with the 0-based index of its first line. */
function blocks(lines: readonly string[], from: number): { start: number; lines: string[] }[] {
  const out: { start: number; lines: string[] }[] = [];
  let current: { start: number; lines: string[] } | null = null;
  for (let i = from; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.trim() === "") {
      current = null;
      continue;
    }
    if (!current) {
      current = { start: i, lines: [] };
      out.push(current);
    }
    current.lines.push(line);
  }
  return out;
}

/** Checks a WebVTT file cue by cue and returns it with LF line endings and one trailing newline. */
function normaliseVtt(lines: readonly string[]): { vtt: string; cues: number } {
  // The header block: the signature line and any header lines up to the first blank line.
  let headerEnd = 1;
  while (headerEnd < lines.length && (lines[headerEnd] ?? "").trim() !== "") {
    if ((lines[headerEnd] ?? "").includes("-->")) {
      throw new InvalidCaptions(
        headerEnd + 1,
        "a blank line must separate the WEBVTT header from the first cue",
      );
    }
    headerEnd++;
  }
  let cues = 0;
  const out = lines.slice(0, headerEnd).map((line) => line.trimEnd());
  for (const block of blocks(lines, headerEnd)) {
    const first = block.lines[0] ?? "";
    const kind = /^(NOTE|STYLE|REGION)(?:[ \t]|$)/.exec(first)?.[1];
    if (kind) {
      if (kind !== "NOTE" && cues > 0) {
        throw new InvalidCaptions(block.start + 1, `a ${kind} block must come before the first cue`);
      }
      const arrow = block.lines.findIndex((line) => line.includes("-->"));
      if (arrow >= 0) throw new InvalidCaptions(block.start + arrow + 1, `"-->" inside a ${kind} block`);
      out.push("", ...block.lines.map((line) => line.trimEnd()));
      continue;
    }
    const timingAt = first.includes("-->") ? 0 : 1;
    const timing = (block.lines[timingAt] ?? "").trim();
    const lineNo = block.start + timingAt + 1;
    const match = VTT_TIMING.exec(timing);
    if (!match) {
      throw new InvalidCaptions(
        block.lines.length > timingAt ? lineNo : block.start + 1,
        block.lines.length > timingAt
          ? `expected a cue timing line such as "00:00:01.000 --> 00:00:04.000", found "${clip(timing)}"`
          : "a cue identifier without a timing line",
      );
    }
    const [, h1, m1 = "", s1 = "", f1 = "", h2, m2 = "", s2 = "", f2 = "", settings] = match;
    checkSpan(seconds(h1, m1, s1, f1), seconds(h2, m2, s2, f2), lineNo);
    for (const setting of (settings ?? "")
      .trim()
      .split(/[ \t]+/)
      .filter(Boolean)) {
      if (!CUE_SETTING.test(setting)) {
        throw new InvalidCaptions(lineNo, `unknown cue setting "${clip(setting)}"`);
      }
    }
    const payload = block.lines.slice(timingAt + 1);
    const arrow = payload.findIndex((line) => line.includes("-->"));
    if (arrow >= 0) {
      throw new InvalidCaptions(lineNo + arrow + 1, '"-->" in cue text (a blank line missing before a cue?)');
    }
    cues++;
    out.push(
      "",
      ...block.lines.slice(0, timingAt + 1).map((line) => line.trim()),
      ...payload.map((l) => l.trimEnd()),
    );
  }
  if (cues === 0) throw new InvalidCaptions(lines.length, "no cues");
  return { vtt: `${out.join("\n")}\n`, cues };
}

/** SRT → WebVTT: timestamps with dots, cue numbers kept as identifiers, text tags made WebVTT's. */
function srtToVtt(lines: readonly string[]): { vtt: string; cues: number } {
  const out = ["WEBVTT"];
  let cues = 0;
  for (const block of blocks(lines, 0)) {
    const first = (block.lines[0] ?? "").trim();
    const numbered = /^\d+$/.test(first);
    const timingAt = numbered ? 1 : 0;
    const lineNo = block.start + timingAt + 1;
    const timing = (block.lines[timingAt] ?? "").trim();
    const match = SRT_TIMING.exec(timing);
    if (!match) {
      throw new InvalidCaptions(
        lineNo,
        numbered
          ? `expected a cue timing line such as "00:00:01,000 --> 00:00:04,000", found "${clip(timing)}"`
          : `expected a cue number, found "${clip(first)}"`,
      );
    }
    const [, h1 = "", m1 = "", s1 = "", f1 = "", h2 = "", m2 = "", s2 = "", f2 = ""] = match;
    const start = seconds(h1, m1, s1, f1);
    const end = seconds(h2, m2, s2, f2);
    checkSpan(start, end, lineNo);
    const text = block.lines.slice(timingAt + 1).map(srtTextToVtt);
    cues++;
    out.push(
      "",
      ...(numbered ? [first] : []),
      `${formatTimestamp(start)} --> ${formatTimestamp(end)}`,
      ...text,
    );
  }
  if (cues === 0) throw new InvalidCaptions(1, "no cues");
  return { vtt: `${out.join("\n")}\n`, cues };
}

// The SRT tags WebVTT has too; everything else (<font …>, unknown tags) is dropped, its text kept.
const KEPT_TAG = /^<(\/?)(i|b|u)>$/i;
const ENTITY = /^&(?:[A-Za-z][A-Za-z0-9]{1,31}|#\d{1,7}|#x[0-9A-Fa-f]{1,6});/;

/** One line of SRT cue text as WebVTT cue text: <i>/<b>/<u> kept, other tags and {\ass} codes dropped. */
export function srtTextToVtt(line: string): string {
  const withoutAss = line.replace(/\{\\[^}]*\}/g, "");
  let out = "";
  let rest = withoutAss;
  while (rest.length > 0) {
    const tag = /^<\/?[A-Za-z][^<>]*>/.exec(rest);
    if (tag) {
      const kept = KEPT_TAG.exec(tag[0]);
      if (kept) out += `<${kept[1]}${kept[2]?.toLowerCase()}>`;
      rest = rest.slice(tag[0].length);
      continue;
    }
    const char = rest[0] as string;
    if (char === "&") out += ENTITY.test(rest) ? "&" : "&amp;";
    else if (char === "<") out += "&lt;";
    else if (char === ">") out += "&gt;";
    else out += char;
    rest = rest.slice(1);
  }
  return out.trimEnd();
}

const clip = (text: string) => (text.length > 40 ? `${text.slice(0, 40)}…` : text);
