import { describe, expect, it } from "vitest";
import {
  cacheControlFor,
  GROWING_PLAYLIST_CACHE_CONTROL,
  growingAsset,
  parseAssetPath,
} from "../src/play/asset.ts";
import { assetCacheKey } from "../src/play/cache-key.ts";

describe("delivery path allow-list", () => {
  it.each([
    ["master.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"],
    ["720p/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"],
    ["720p/init.mp4", "video/mp4", "public, max-age=31536000, immutable"],
    ["720p/seg_00001.m4s", "video/iso.segment", "public, max-age=31536000, immutable"],
    ["1080p/seg_00042.m4s", "video/iso.segment", "public, max-age=31536000, immutable"],
    ["audio/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"],
    ["audio/init.mp4", "video/mp4", "public, max-age=31536000, immutable"],
    ["audio/seg_00000.m4s", "video/iso.segment", "public, max-age=31536000, immutable"],
    ["720p/iframes.m3u8", "application/vnd.apple.mpegurl", "public, max-age=60"],
    ["poster.jpg", "image/jpeg", "public, max-age=3600"],
  ])("serves %s as %s", (path, contentType, cacheControl) => {
    expect(parseAssetPath(path)).toMatchObject({ path, contentType, cacheControl });
  });

  it.each([
    ["master.m3u8", GROWING_PLAYLIST_CACHE_CONTROL],
    ["720p/index.m3u8", GROWING_PLAYLIST_CACHE_CONTROL],
    ["audio/index.m3u8", GROWING_PLAYLIST_CACHE_CONTROL],
    ["720p/init.mp4", "public, max-age=31536000, immutable"],
    ["720p/seg_00001.m4s", "public, max-age=31536000, immutable"],
    ["poster.jpg", "public, max-age=3600"],
  ])("while the video is live, sends %s with %s", (path, cacheControl) => {
    const asset = parseAssetPath(path);
    if (!asset) throw new Error(`${path} is not servable`);
    expect(cacheControlFor(asset, true)).toBe(cacheControl);
    expect(growingAsset(asset, true)).toBe(cacheControl === GROWING_PLAYLIST_CACHE_CONTROL);
    // Once ready, the normal policy.
    expect(cacheControlFor(asset, false)).toBe(asset.cacheControl);
    expect(growingAsset(asset, false)).toBe(false);
  });

  it("keeps a growing playlist's cached copies apart from the final one's", () => {
    const config = { publicBaseUrl: null };
    const id = "0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d";
    const final = assetCacheKey(config, id, 3, "720p/index.m3u8").url;
    const growing = assetCacheKey(config, id, 3, "720p/index.m3u8", true).url;
    expect(growing).not.toBe(final);
    expect(final).toMatch(/\/g3\/720p\/index\.m3u8$/);
    expect(growing).toMatch(/\/g3-live\/720p\/index\.m3u8$/);
  });

  it.each([
    [""],
    ["/master.m3u8"],
    ["master.m3u8/"],
    ["../master.m3u8"],
    ["..%2fmaster.m3u8"],
    ["%2e%2e/master.m3u8"],
    ["720p/../../sources/x.mp4"],
    ["720p/..%2f..%2fsources.mp4"],
    [".."],
    ["./master.m3u8"],
    ["720p/./index.m3u8"],
    ["720p//index.m3u8"],
    ["a/b/c.m4s"],
    ["sources/0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d"],
    ["sources/"],
    ["source.mov"],
    ["master.m3u8?x=1"],
    ["master.m3u8#frag"],
    ["master.m3u8%00.jpg"],
    ["master.m3u8;.jpg"],
    ["master.M3U8"],
    ["master.m3u8.bak"],
    ["master"],
    [".m3u8"],
    ["master.txt"],
    ["master.json"],
    ["index.html"],
    ["720p\\index.m3u8"],
    ["720p/index .m3u8"],
    ["720p/seg_0001.m4s\n"],
    ["C:/windows.jpg"],
    [`${"a".repeat(65)}/index.m3u8`],
  ])("refuses %j", (path) => {
    expect(parseAssetPath(path)).toBeNull();
  });
});
