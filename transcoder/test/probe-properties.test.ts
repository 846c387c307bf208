import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BadMediaError } from "../src/media/errors.ts";
import { checkSourceLimits, DEFAULT_SOURCE_LIMITS } from "../src/media/limits.ts";
import { inspectProbe } from "../src/media/probe.ts";

/** Strings ffprobe puts in rate, duration and count fields, good and bad, plus anything at all. */
const numberish = fc.oneof(
  fc.constantFrom("0/0", "30000/1001", "1/0", "0/1", "N/A", "", "-1/1", "1e400", "9".repeat(400), "25"),
  fc.tuple(fc.nat(), fc.nat()).map(([n, d]) => `${n}/${d}`),
  fc.double().map(String),
  fc.bigInt().map(String),
  fc.string(),
);

const dimension = fc.oneof(
  fc.integer({ min: -10, max: 20_000 }),
  fc.double(),
  fc.constantFrom(0, 1, 2 ** 31, Number.MAX_SAFE_INTEGER, 1e308),
);

const stream = fc.record(
  {
    codec_type: fc.constantFrom("video", "audio", "subtitle", "data", "attachment"),
    codec_name: fc.oneof(fc.constantFrom("h264", "hevc", "mjpeg", "ansi", "tty", "png"), fc.string()),
    pix_fmt: fc.string(),
    width: dimension,
    height: dimension,
    sample_aspect_ratio: fc.oneof(
      fc.constantFrom("1:1", "0:1", "4:3", "1:0", "N/A"),
      fc.tuple(fc.nat(), fc.nat()).map(([n, d]) => `${n}:${d}`),
    ),
    r_frame_rate: numberish,
    avg_frame_rate: numberish,
    duration: numberish,
    nb_read_packets: numberish,
    disposition: fc.record({ attached_pic: fc.constantFrom(0, 1) }, { requiredKeys: [] }),
    tags: fc.dictionary(fc.constantFrom("rotate", "language"), fc.oneof(fc.string(), fc.double())),
    side_data_list: fc.array(fc.record({ rotation: fc.double() }, { requiredKeys: [] }), { maxLength: 2 }),
  },
  { requiredKeys: [] },
);

/** ffprobe-shaped JSON with hostile values, and now and then something that is not ffprobe JSON at all. */
const probeJson = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record(
      {
        streams: fc.array(stream, { maxLength: 4 }),
        format: fc.record(
          {
            format_name: fc.oneof(
              fc.constantFrom("mov,mp4,m4a,3gp,3g2,mj2", "tty", "image2", "png_pipe"),
              fc.string(),
            ),
            duration: numberish,
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: fc.anything() },
);

describe("parsing ffprobe's output never fails except with a reason for the uploader", () => {
  it("inspectProbe and the source limits throw nothing but BadMediaError, and what passes is sane", () => {
    fc.assert(
      fc.property(probeJson, (json) => {
        try {
          const { facts, shape } = inspectProbe(json);
          expect(Number.isSafeInteger(facts.width) && facts.width > 0).toBe(true);
          expect(Number.isSafeInteger(facts.height) && facts.height > 0).toBe(true);
          expect(Number.isFinite(facts.fps) && facts.fps > 0).toBe(true);
          expect([0, 90, 180, 270]).toContain(facts.rotation);
          expect(facts.durationSeconds === null || Number.isFinite(facts.durationSeconds)).toBe(true);
          const durationSeconds = facts.durationSeconds ?? 10;
          checkSourceLimits({ ...facts, ...shape, durationSeconds }, DEFAULT_SOURCE_LIMITS);
        } catch (err) {
          if (!(err instanceof BadMediaError)) throw err;
          expect(err.message.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
