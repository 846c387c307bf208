import { MAX_PARTS, MIN_PART_BYTES } from "@streamlet/shared";
import { describe, expect, it } from "vitest";
import { DEFAULT_UPLOAD_LIMITS, loadConfig } from "../src/config.ts";
import { partCount, partSize, planUpload } from "../src/videos/source-upload.ts";
import { testEnv } from "./helpers.ts";

const MIB = 1024 * 1024;
const limits = loadConfig({ ...testEnv }).uploads;

describe("upload settings", () => {
  it("defaults to 50 GB sources, parts above 64 MiB of 16 MiB, a 200 GB quota, a day to upload", () => {
    expect(limits).toEqual({
      maxSourceBytes: 50e9,
      multipartThresholdBytes: 64 * MIB,
      partBytes: 16 * MIB,
      storageQuotaBytes: 200e9,
      expirySeconds: 86_400,
    });
    expect(DEFAULT_UPLOAD_LIMITS.maxSourceBytes).toBe(50e9);
  });

  it("reads sizes in bytes or with a unit, and 'off' for the quota", () => {
    const config = loadConfig({
      ...testEnv,
      MAX_SOURCE_BYTES: "2GiB",
      MULTIPART_THRESHOLD_BYTES: "8 MB",
      UPLOAD_PART_BYTES: "5242880",
      STORAGE_QUOTA_BYTES: "off",
      UPLOAD_EXPIRY_SECONDS: "3600",
    }).uploads;
    expect(config).toEqual({
      maxSourceBytes: 2 * 1024 ** 3,
      multipartThresholdBytes: 8e6,
      partBytes: 5 * MIB,
      storageQuotaBytes: null,
      expirySeconds: 3600,
    });
  });

  it.each([
    ["UPLOAD_PART_BYTES", "4MiB"], // under S3's 5 MiB
    ["UPLOAD_PART_BYTES", "2GiB"], // the part size column is an integer
    ["MULTIPART_THRESHOLD_BYTES", "6GiB"], // over S3's 5 GiB single PUT
    ["MAX_SOURCE_BYTES", "6TiB"], // over S3's 5 TiB object
    ["MAX_SOURCE_BYTES", "lots"],
    ["STORAGE_QUOTA_BYTES", "-1"],
  ])("refuses %s=%s, naming it", (name, value) => {
    expect(() => loadConfig({ ...testEnv, [name]: value })).toThrow(
      new RegExp(`${name}: must be ("off" or )?a size`),
    );
  });
});

describe("planUpload", () => {
  it("keeps one PUT up to the threshold and goes to parts above it", () => {
    expect(planUpload(64 * MIB, limits)).toEqual({ kind: "single", size: 64 * MIB });
    expect(planUpload(64 * MIB + 1, limits)).toEqual({
      kind: "multipart",
      size: 64 * MIB + 1,
      partSize: 16 * MIB,
    });
  });

  it("cuts the file into parts of the part size, the last holding the rest", () => {
    const plan = { size: 40 * MIB + 5, partSize: 16 * MIB };
    expect(partCount(plan)).toBe(3);
    expect([1, 2, 3].map((n) => partSize(plan, n))).toEqual([16 * MIB, 16 * MIB, 8 * MIB + 5]);
    expect(partCount({ size: 32 * MIB, partSize: 16 * MIB })).toBe(2);
    expect(partSize({ size: 32 * MIB, partSize: 16 * MIB }, 2)).toBe(16 * MIB);
  });

  it.each([50e9, 5 * 1024 ** 4, 160e9 + 7])("never needs more than 10 000 parts (%d bytes)", (size) => {
    const plan = planUpload(size, { ...limits, maxSourceBytes: 5 * 1024 ** 4 });
    if (plan.kind !== "multipart") throw new Error("expected parts");
    expect(partCount(plan)).toBeLessThanOrEqual(MAX_PARTS);
    expect(plan.partSize).toBeGreaterThanOrEqual(MIN_PART_BYTES);
    expect(plan.partSize % MIB).toBe(0);
    expect(plan.partSize).toBeLessThan(2 ** 31); // it is stored in an integer column
  });
});
