import { describe, expect, it } from "vitest";
import {
  contentTypeFor,
  outputPrefix,
  SEGMENT_FILE,
  SEGMENT_PATTERN,
  segmentName,
  servableAsset,
  sourceKey,
  videoKeys,
  videoPrefixes,
} from "../src/index.ts";

const id = "0b8a5f3e-8c1d-4e2a-9f00-5d6c7b8a9e10";

describe("storage layout", () => {
  it("derives every key from the canonical video id", () => {
    expect(sourceKey(id)).toBe(`sources/${id}`);
    expect(outputPrefix(id)).toBe(`videos/${id}/`);
    expect(videoKeys(id.toUpperCase())).toEqual({ source: `sources/${id}`, outputPrefix: `videos/${id}/` });
    expect(videoPrefixes(id.toUpperCase())).toEqual([`sources/${id}`, `videos/${id}/`]);
  });

  it("refuses to build a key from something that is not an id", () => {
    for (const bad of ["", "abc", "../x", `${id}/../other`]) {
      expect(() => sourceKey(bad)).toThrow(TypeError);
      expect(() => outputPrefix(bad)).toThrow(TypeError);
    }
  });

  it("names segments the way the FFmpeg pattern does", () => {
    expect(SEGMENT_PATTERN).toBe("seg_%05d.m4s");
    expect(segmentName(0)).toBe("seg_00000.m4s");
    expect(segmentName(123)).toBe("seg_00123.m4s");
    expect(SEGMENT_FILE.test(segmentName(7))).toBe(true);
    expect(SEGMENT_FILE.test("seg_1.m4s.tmp")).toBe(false);
  });

  it("has one content type table", () => {
    expect(contentTypeFor("master.m3u8")).toBe("application/vnd.apple.mpegurl");
    expect(contentTypeFor("720p/seg_00001.m4s")).toBe("video/iso.segment");
    expect(contentTypeFor("720p/init.mp4")).toBe("video/mp4");
    expect(contentTypeFor("POSTER.JPG")).toBe("image/jpeg");
    expect(contentTypeFor("notes.txt")).toBe("application/octet-stream");
    expect(contentTypeFor("no-extension")).toBe("application/octet-stream");
  });

  it("serves only the shapes the transcoder writes", () => {
    for (const path of [
      "master.m3u8",
      "720p/index.m3u8",
      "720p/init.mp4",
      "720p/seg_00001.m4s",
      "audio/seg_00000.m4s",
      "poster.jpg",
    ]) {
      expect(servableAsset(path)?.contentType, path).toBe(contentTypeFor(path));
    }
    for (const path of [
      "",
      "../sources/x.mp4",
      "a/b/c.m4s",
      "720p/%2e%2e.m3u8",
      "720p/",
      "x.txt",
      "/master.m3u8",
      "720p//seg.m4s",
    ]) {
      expect(servableAsset(path), path).toBeNull();
    }
  });
});
