import { DEFAULT_LADDER, Rendition } from "@streamlet/shared";
import { describe, expect, it } from "vitest";
import { planFrameRate, planLadder } from "../src/media/ladder.ts";
import { parseProbe } from "../src/media/probe.ts";

const cfr30 = { frameRate: { num: 30, den: 1 }, variableFrameRate: false };
const src = (width: number, height: number) => ({ width, height, ...cfr30 });
/** name WxH@video/max for compact tables. */
const brief = (facts: Parameters<typeof planLadder>[0]) =>
  planLadder(facts).rungs.map(
    (r) => `${r.name} ${r.width}x${r.height} ${r.videoBitrate}/${r.maxBitrate}/${r.bufsize}`,
  );

describe("planLadder", () => {
  it.each([
    [
      "1080p landscape keeps all three rungs",
      src(1920, 1080),
      [
        "1080p 1920x1080 6000000/7800000/15600000",
        "720p 1280x720 3000000/4500000/9000000",
        "480p 854x480 1200000/1800000/3600000",
      ],
    ],
    [
      "4K source never gets a rung above the ladder",
      src(3840, 2160),
      [
        "1080p 1920x1080 6000000/7800000/15600000",
        "720p 1280x720 3000000/4500000/9000000",
        "480p 854x480 1200000/1800000/3600000",
      ],
    ],
    [
      "720p source skips 1080p (no upscale)",
      src(1280, 720),
      ["720p 1280x720 3000000/4500000/9000000", "480p 854x480 1200000/1800000/3600000"],
    ],
    [
      "900p source between rungs becomes the top rung, budget scaled from 720p by pixels",
      src(1600, 900),
      [
        "900p 1600x900 4687500/7031250/14062500",
        "720p 1280x720 3000000/4500000/9000000",
        "480p 854x480 1200000/1800000/3600000",
      ],
    ],
    [
      "360p source below the lowest rung is kept as the only rung",
      src(640, 360),
      ["360p 640x360 675000/1012500/2025000"],
    ],
    [
      "portrait 1080x1920 scales the width to the rung",
      src(1080, 1920),
      [
        "1080p 1080x1920 6000000/7800000/15600000",
        "720p 720x1280 3000000/4500000/9000000",
        "480p 480x854 1200000/1800000/3600000",
      ],
    ],
    [
      "odd 1279x719 rounds down to an even top rung and even widths",
      src(1279, 719),
      ["718p 1278x718 2685021/4027531/8055062", "480p 854x480 1200000/1800000/3600000"],
    ],
    [
      "730p is within 5% of 720p: no near-duplicate rung",
      src(1298, 730),
      ["720p 1280x720 3000000/4500000/9000000", "480p 854x480 1200000/1800000/3600000"],
    ],
    [
      "1079p (just under 1080) keeps its own size, budget capped at the 1080p rung's",
      src(1918, 1079),
      [
        "1078p 1916x1078 6000000/7800000/15600000",
        "720p 1280x720 3000000/4500000/9000000",
        "480p 854x480 1200000/1800000/3600000",
      ],
    ],
  ])("%s", (_label, facts, expected) => {
    expect(brief(facts)).toEqual(expected);
  });

  it("portrait source rotated 90° (coded 1920x1080) plans portrait rungs", () => {
    const facts = parseProbe({
      streams: [
        {
          codec_type: "video",
          codec_name: "h264",
          width: 1920,
          height: 1080,
          r_frame_rate: "30/1",
          avg_frame_rate: "30/1",
          side_data_list: [{ side_data_type: "Display Matrix", rotation: -90 }],
        },
      ],
      format: { format_name: "mov,mp4,m4a,3gp,3g2,mj2", duration: "10.0" },
    });
    expect(facts.rotation).toBe(90);
    expect(brief(facts)).toEqual([
      "1080p 1080x1920 6000000/7800000/15600000",
      "720p 720x1280 3000000/4500000/9000000",
      "480p 480x854 1200000/1800000/3600000",
    ]);
  });

  it("every rung has even dimensions and a name the Rendition schema accepts", () => {
    for (const [w, h] of [
      [1279, 719],
      [1081, 1921],
      [333, 187],
      [2560, 1080],
      [1440, 1080],
      [7, 5],
    ] as const) {
      for (const r of planLadder(src(w, h)).rungs) {
        expect(r.width % 2, `${w}x${h} ${r.name}`).toBe(0);
        expect(r.height % 2, `${w}x${h} ${r.name}`).toBe(0);
        expect(Rendition.shape.name.safeParse(r.name).success).toBe(true);
        expect(Math.min(r.width, r.height)).toBeLessThanOrEqual(Math.min(w, h));
      }
    }
  });

  it("uses a custom ladder from the job, tallest first, whatever order it comes in", () => {
    const ladder = [
      { height: 360, videoBitrate: 700_000, maxBitrate: 1_000_000 },
      { height: 540, videoBitrate: 2_000_000, maxBitrate: 3_000_000 },
    ];
    const plan = planLadder(src(1920, 1080), ladder);
    expect(plan.rungs.map((r) => `${r.name} ${r.width}x${r.height}`)).toEqual([
      "540p 960x540",
      "360p 640x360",
    ]);
    expect(DEFAULT_LADDER).toHaveLength(3); // the default is not mutated by sorting
  });
});

describe("planFrameRate", () => {
  it.each([
    ["30 fps stays", { num: 30, den: 1 }, false, { num: 30, den: 1 }],
    ["29.97 stays exact", { num: 30000, den: 1001 }, false, { num: 30000, den: 1001 }],
    ["60 fps stays (the cap)", { num: 60, den: 1 }, false, { num: 60, den: 1 }],
    ["120 fps halves to 60", { num: 120, den: 1 }, false, { num: 60, den: 1 }],
    ["119.88 halves to 59.94", { num: 120000, den: 1001 }, false, { num: 60000, den: 1001 }],
    ["100 fps halves to 50", { num: 100, den: 1 }, false, { num: 50, den: 1 }],
    ["240 fps quarters to 60", { num: 240, den: 1 }, false, { num: 60, den: 1 }],
    ["VFR averaging 29.5 gets a fixed 30", { num: 59, den: 2 }, true, { num: 30, den: 1 }],
    ["VFR screen recording averaging 12 gets 24", { num: 12, den: 1 }, true, { num: 24, den: 1 }],
    ["VFR averaging 57 gets 60", { num: 57, den: 1 }, true, { num: 60, den: 1 }],
  ])("%s", (_label, frameRate, variableFrameRate, expected) => {
    expect(planFrameRate({ frameRate, variableFrameRate })).toEqual(expected);
    expect(planLadder({ width: 1280, height: 720, frameRate, variableFrameRate }).fps).toEqual(expected);
  });
});
