import { describe, expect, it } from "vitest";
import { S3_ACCESS_KEY, S3_SECRET_KEY } from "../stack/services.ts";
import { storageSettings } from "../stack/stack.ts";

describe("the dev stack's storage settings", () => {
  it("uses the local s3rver's own keys when it starts s3rver, whatever keys .env holds", () => {
    const local = storageSettings({
      S3_ACCESS_KEY_ID: "GK0123456789abcdef01234567",
      S3_SECRET_ACCESS_KEY: "f".repeat(64),
    });
    expect(local).toMatchObject({
      S3_ENDPOINT: "",
      S3_ACCESS_KEY_ID: S3_ACCESS_KEY,
      S3_SECRET_ACCESS_KEY: S3_SECRET_KEY,
    });
  });

  it("uses the given storage with its own keys", () => {
    const given = storageSettings({
      S3_ENDPOINT: "https://s3.us-west-004.backblazeb2.com",
      S3_BUCKET: "videos",
      S3_REGION: "us-west-004",
      S3_ACCESS_KEY_ID: "key",
      S3_SECRET_ACCESS_KEY: "secret",
    });
    expect(given).toEqual({
      S3_ENDPOINT: "https://s3.us-west-004.backblazeb2.com",
      S3_BUCKET: "videos",
      S3_REGION: "us-west-004",
      S3_ACCESS_KEY_ID: "key",
      S3_SECRET_ACCESS_KEY: "secret",
    });
  });
});
