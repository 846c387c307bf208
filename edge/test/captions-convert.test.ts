import { describe, expect, it } from "vitest";
import { InvalidCaptions, srtTextToVtt, toWebVtt } from "../src/captions/convert.ts";
import { canonicalLanguage, defaultLabel, labelProblem } from "../src/captions/language.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const convert = (text: string) => toWebVtt(bytes(text));

/** The InvalidCaptions a text is refused with. */
function refusal(input: string | Uint8Array): InvalidCaptions {
  try {
    toWebVtt(typeof input === "string" ? bytes(input) : input);
  } catch (error) {
    if (error instanceof InvalidCaptions) return error;
    throw error;
  }
  throw new Error("accepted");
}

describe("toWebVtt: SRT", () => {
  it("converts timestamps, keeps cue numbers and multi-line text, with hours", () => {
    const srt = "1\n00:00:01,000 --> 00:00:04,500\nHello\nworld\n\n2\n01:02:03,004 --> 01:02:05,100\nLater\n";
    const { vtt, format, cues } = convert(srt);
    expect(format).toBe("srt");
    expect(cues).toBe(2);
    expect(vtt).toBe(
      "WEBVTT\n\n1\n00:00:01.000 --> 00:00:04.500\nHello\nworld\n\n2\n01:02:03.004 --> 01:02:05.100\nLater\n",
    );
  });

  it("takes CRLF, a BOM, loose spacing, short fractions and trailing coordinates", () => {
    const srt =
      "\uFEFF1\r\n0:00:01,5 --> 0:00:02,25  X1:10 X2:20\r\nOne\r\n\r\n\r\n2\r\n00:00:03.000-->00:00:04.000\r\nTwo\r\n";
    expect(convert(srt).vtt).toBe(
      "WEBVTT\n\n1\n00:00:01.500 --> 00:00:02.250\nOne\n\n2\n00:00:03.000 --> 00:00:04.000\nTwo\n",
    );
  });

  it("keeps <i>/<b>/<u>, drops <font> and ASS codes, escapes stray < > &", () => {
    const srt =
      '1\n00:00:01,000 --> 00:00:02,000\n{\\an8}<I>it</I> <b>bold</b> <font color="#ff0000">red</font>\nA & B &amp; 1 < 2 --> 3\n';
    expect(convert(srt).vtt.split("\n").slice(4, 6)).toEqual([
      "<i>it</i> <b>bold</b> red",
      "A &amp; B &amp; 1 &lt; 2 --&gt; 3",
    ]);
    expect(srtTextToVtt("<script>alert(1)</script>")).toBe("alert(1)");
  });

  it("refuses end before start, a missing timing line and garbage after the cues", () => {
    expect(refusal("1\n00:00:05,000 --> 00:00:04,000\nx\n").message).toMatch(/^line 2: .*ends before/);
    expect(refusal("1\n00:00:05,000 --> 00:00:05,000\nx\n").message).toMatch(/^line 2: /);
    expect(refusal("1\nhello\n").message).toMatch(/^line 2: expected a cue timing line/);
    expect(refusal("1\n00:00:01,000 --> 00:00:02,000\nx\n\nnot a cue\n").message).toMatch(
      /^line 5: expected a cue number/,
    );
    expect(refusal("1\n25:00:00,000 --> 25:00:01,000\nx\n").message).toMatch(/24 hours/);
  });
});

describe("toWebVtt: WebVTT", () => {
  it("keeps a valid file (header, NOTE, STYLE, settings, identifiers), normalising line endings", () => {
    const vtt =
      "WEBVTT - title\r\nKind: captions\r\n\r\nSTYLE\r\n::cue { color: yellow }\r\n\r\nNOTE a note\r\n\r\nintro\r\n00:01.000 --> 00:02.000 align:start position:10%\r\n<v Bob>Hi</v>\r\n\r\n01:00:00.000 --> 01:00:01.000\r\nBye   \r\n\r\n\r\n";
    const { vtt: out, format, cues } = convert(vtt);
    expect(format).toBe("vtt");
    expect(cues).toBe(2);
    expect(out).toBe(
      "WEBVTT - title\nKind: captions\n\nSTYLE\n::cue { color: yellow }\n\nNOTE a note\n\nintro\n00:01.000 --> 00:02.000 align:start position:10%\n<v Bob>Hi</v>\n\n01:00:00.000 --> 01:00:01.000\nBye\n",
    );
  });

  it("refuses malformed timestamps, end <= start, unknown settings, arrows in text, no cues", () => {
    expect(refusal("WEBVTT\n\n00:01,000 --> 00:02.000\nx\n").message).toMatch(
      /^line 3: expected a cue timing/,
    );
    expect(refusal("WEBVTT\n\n00:61.000 --> 00:62.000\nx\n").message).toMatch(/^line 3: /);
    expect(refusal("WEBVTT\n\n00:03.000 --> 00:02.000\nx\n").message).toMatch(/^line 3: .*ends before/);
    expect(refusal("WEBVTT\n\n00:01.000 --> 00:02.000 evil:1\nx\n").message).toMatch(/unknown cue setting/);
    expect(refusal("WEBVTT\n\n00:01.000 --> 00:02.000\nx\n00:03.000 --> 00:04.000\n").message).toMatch(
      /^line 5: /,
    );
    expect(refusal("WEBVTT\n\nNOTE only\n").message).toMatch(/no cues/);
    expect(refusal("WEBVTT\n\nid only\n").message).toMatch(/^line 3: /);
  });
});

describe("toWebVtt: garbage", () => {
  it("refuses text that is neither format, empty files, binary and bad UTF-8", () => {
    expect(refusal("hello there\nthis is not a subtitle\n").message).toMatch(/^line 1: neither WebVTT/);
    expect(refusal("\n\n  \n").message).toMatch(/empty/);
    expect(refusal("WEBVTT\n\n00:01.000 --> 00:02.000\na\u0000b\n").message).toMatch(
      /^line 4: control character U\+0000/,
    );
    expect(refusal(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])).message).toMatch(
      /not UTF-8/,
    );
    expect(refusal(new Uint8Array([0x57, 0x45, 0x42, 0x56, 0x54, 0x54, 0x0a, 0xff])).message).toMatch(
      /^line 2: not UTF-8/,
    );
  });
});

describe("caption languages and labels", () => {
  it("canonicalises case: language lower, script Title, region upper", () => {
    expect(canonicalLanguage("EN")).toBe("en");
    expect(canonicalLanguage("pt-br")).toBe("pt-BR");
    expect(canonicalLanguage("ZH-hant-tw")).toBe("zh-Hant-TW");
    expect(canonicalLanguage("es-419")).toBe("es-419");
    expect(canonicalLanguage("de-CH-1996")).toBe("de-CH-1996");
    expect(canonicalLanguage("english!")).toBeNull();
    expect(canonicalLanguage("e")).toBeNull();
    expect(canonicalLanguage("../x")).toBeNull();
  });

  it("labels default to the English name, else the tag; quotes and line breaks are refused", () => {
    expect(defaultLabel("en")).toBe("English");
    expect(defaultLabel("fr")).toBe("French");
    expect(defaultLabel("qaa")).toMatch(/^(qaa|.+)$/);
    expect(labelProblem("English (CC)")).toBeNull();
    expect(labelProblem('Say "hi"')).toMatch(/double quote/);
    expect(labelProblem("two\nlines")).toMatch(/line breaks/);
    expect(labelProblem("  ")).toMatch(/empty/);
    expect(labelProblem("x".repeat(65))).toMatch(/64/);
  });
});
