import { describe, expect, it } from "vitest";
import { buildPosterArgs, posterSize } from "../src/media/poster.ts";

describe("posterSize", () => {
  it.each([
    [1920, 1080, 1280, 720],
    [1280, 720, 1280, 720],
    [1080, 1920, 1080, 1920],
    [641, 361, 640, 360],
    [3840, 1600, 1280, 534],
    [320, 240, 320, 240],
  ])("%sx%s → %sx%s (at most 1280 wide, even)", (width, height, w, h) => {
    expect(posterSize({ width, height })).toEqual({ width: w, height: h });
  });
});

describe("buildPosterArgs", () => {
  it("seeks before -i (fast input seek) and writes one scaled frame", () => {
    const args = buildPosterArgs("/w/source", "/w/out/poster.jpg", { width: 1920, height: 1080 }, 12.5);
    expect(args.indexOf("-ss")).toBeLessThan(args.indexOf("-i"));
    expect(args[args.indexOf("-ss") + 1]).toBe("12.500");
    expect(args[args.indexOf("-frames:v") + 1]).toBe("1");
    expect(args[args.indexOf("-vf") + 1]).toBe("scale=1280:720,setsar=1");
    expect(args.at(-1)).toBe("/w/out/poster.jpg");
  });
});
