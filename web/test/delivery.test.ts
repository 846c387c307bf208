import { describe, expect, it } from "vitest";
import type { Caption, Rendition } from "../src/lib/api-types.ts";
import { ApiError } from "../src/lib/errors.ts";
import {
  captionContentType,
  captionFormProblem,
  formatPsnr,
  formatSsim,
  framesCompared,
  isCaptionLanguage,
  MAX_CAPTION_BYTES,
  measuredRungs,
  withCaption,
  withoutCaption,
} from "../src/upload/delivery.ts";
import { downloadErrorMessage } from "../src/watch/download.ts";

describe("caption languages", () => {
  it.each(["en", "pt-BR", "zh-Hant", "sr-Latn-RS", "yue", "EN"])("takes %s", (tag) => {
    expect(isCaptionLanguage(tag)).toBe(true);
  });
  it.each(["", "e", "english", "en_US", "en-", "pt-BR-x-y-z-w", "en BR", "../en"])("refuses %j", (tag) => {
    expect(isCaptionLanguage(tag)).toBe(false);
  });
});

describe("the caption form", () => {
  const file = { name: "subs.srt", size: 1200 };
  it("passes a file, a language and an optional label", () => {
    expect(captionFormProblem({ file, language: "pt-BR", label: "" })).toBeNull();
    expect(captionFormProblem({ file, language: "en", label: "English (CC)" })).toBeNull();
  });
  it("names the field to fix", () => {
    expect(captionFormProblem({ file: null, language: "en", label: "" })?.field).toBe("file");
    expect(captionFormProblem({ file: { ...file, size: 0 }, language: "en", label: "" })?.field).toBe("file");
    expect(
      captionFormProblem({ file: { ...file, size: MAX_CAPTION_BYTES + 1 }, language: "en", label: "" }),
    ).toEqual({ field: "file", message: "That file is larger than 512 KiB." });
    expect(captionFormProblem({ file, language: "", label: "" })?.field).toBe("language");
    expect(captionFormProblem({ file, language: "english", label: "" })).toEqual({
      field: "language",
      message: "“english” is not a language tag: use one such as en, pt-BR or zh-Hant.",
    });
    expect(captionFormProblem({ file, language: "en", label: "x".repeat(65) })?.field).toBe("label");
    expect(captionFormProblem({ file, language: "en", label: 'say "hi"' })?.field).toBe("label");
  });
  it("sends each file as its type", () => {
    expect(captionContentType("a.VTT")).toBe("text/vtt");
    expect(captionContentType("a.srt")).toBe("application/x-subrip");
    expect(captionContentType("subs.txt")).toBe("text/plain");
  });
});

describe("the caption list", () => {
  const track = (language: string, label = language): Caption => ({
    language,
    label,
    url: `/${language}.vtt`,
  });
  it("adds in language order and replaces a language whatever its case", () => {
    const list = [track("en"), track("pt-BR")];
    expect(withCaption(list, track("de")).map((c) => c.language)).toEqual(["de", "en", "pt-BR"]);
    expect(withCaption(list, track("pt-br", "Português"))).toEqual([
      track("en"),
      track("pt-br", "Português"),
    ]);
  });
  it("deletes one language", () => {
    expect(withoutCaption([track("en"), track("pt-BR")], "PT-br")).toEqual([track("en")]);
  });
});

describe("rung quality", () => {
  it("reads SSIM to 3 decimals and PSNR to 1 decimal in dB", () => {
    expect(formatSsim(0.98765)).toBe("0.988");
    expect(formatSsim(1)).toBe("1.000");
    expect(formatPsnr(41.26)).toBe("41.3 dB");
    expect(formatPsnr(38)).toBe("38.0 dB");
  });
  it("says how many frames were compared", () => {
    const rung = (frames: number) => ({ quality: { frames } });
    expect(framesCompared([rung(1)])).toBe("1 sampled frame");
    expect(framesCompared([rung(12), rung(12)])).toBe("12 sampled frames");
    expect(framesCompared([rung(12), rung(10)])).toBe("10–12 sampled frames");
  });
  it("lists measured rungs highest first, or nothing when none was measured", () => {
    const rung = (name: string, height: number, quality?: Rendition["quality"]): Rendition => ({
      name,
      width: Math.round((height * 16) / 9),
      height,
      bandwidth: 1,
      averageBandwidth: 1,
      codecs: "avc1.64001f,mp4a.40.2",
      frameRate: 30,
      ...(quality ? { quality } : {}),
    });
    const q = { ssim: 0.97, psnr: 40, frames: 30 };
    expect(measuredRungs([rung("360p", 360), rung("720p", 720)])).toBeNull();
    expect(
      measuredRungs([rung("360p", 360, q), rung("480p", 480), rung("720p", 720, q)])?.map((r) => r.name),
    ).toEqual(["720p", "360p"]);
  });
});

describe("download refusals", () => {
  it("says what each refusal means, else the edge's message", () => {
    expect(downloadErrorMessage(new ApiError(403, "downloads_disabled", "downloads are off"))).toBe(
      "The owner has turned downloads of this video off.",
    );
    expect(downloadErrorMessage(new ApiError(409, "not_ready", "not ready"))).toMatch(/still processing/);
    expect(downloadErrorMessage(new ApiError(404, "no_download", "no MP4"))).toBe(
      "This video has no file to download.",
    );
    expect(downloadErrorMessage(new ApiError(503, "storage_unavailable", "storage is unavailable"))).toBe(
      "Storage is unavailable.",
    );
    expect(downloadErrorMessage(new TypeError("Failed to fetch"))).toMatch(/Could not reach Streamlet/);
  });
});
