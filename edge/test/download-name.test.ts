import { describe, expect, it } from "vitest";
import { asciiFileName, attachmentDisposition, downloadFileName } from "../src/videos/download-name.ts";

describe("download file names", () => {
  it.each([
    ["My holiday", "My holiday.mp4"],
    ["Mon été: part 1/2", "Mon été part 1 2.mp4"],
    ['a\\b*c?d"e<f>g|h', "a b c d e f g h.mp4"],
    ["  lots   of\tspace\n", "lots of space.mp4"],
    ["...hidden...", "hidden.mp4"],
    ["../../etc/passwd", "etc passwd.mp4"],
    ["evil\u202Egpj.exe", "evil gpj.exe.mp4"],
    ["bell\u0007and\u0000nul", "bell and nul.mp4"],
    ["", "video.mp4"],
    ["///", "video.mp4"],
    ["CON", "_CON.mp4"],
    ["日本語のタイトル", "日本語のタイトル.mp4"],
  ])("%j → %j", (title, name) => {
    expect(downloadFileName(title)).toBe(name);
  });

  it("caps the name at 120 characters (whole code points) before .mp4", () => {
    expect(downloadFileName("a".repeat(500))).toBe(`${"a".repeat(120)}.mp4`);
    // Never half of a surrogate pair.
    expect(downloadFileName("🎬".repeat(200))).toBe(`${"🎬".repeat(120)}.mp4`);
  });

  it.each([
    ["Mon été.mp4", "Mon ete.mp4"],
    ["日本語.mp4", "video.mp4"],
    ["100% sure.mp4", "100_ sure.mp4"],
    ["Straße.mp4", "Stra_e.mp4"],
  ])("ascii fallback of %j is %j", (name, ascii) => {
    expect(asciiFileName(name)).toBe(ascii);
  });

  it("names the attachment in quoted ASCII and in UTF-8 (RFC 6266 / 8187)", () => {
    expect(attachmentDisposition("Mon été (1)'s.mp4")).toBe(
      `attachment; filename="Mon ete (1)'s.mp4"; filename*=UTF-8''Mon%20%C3%A9t%C3%A9%20%281%29%27s.mp4`,
    );
    for (const title of ['a"b\\c', "x\r\ny", "日本"]) {
      const header = attachmentDisposition(downloadFileName(title));
      // Nothing a header or its quoted-string could be broken out of with.
      expect(header).toMatch(
        /^attachment; filename="[\x20-\x21\x23-\x5b\x5d-\x7e]+"; filename\*=UTF-8''[A-Za-z0-9%!._~-]+$/,
      );
    }
  });
});
