// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these are compose interpolations, not JS templates
import { describe, expect, it } from "vitest";
import { findUnpinnedImages, unpinnedReason } from "../check-compose-pins.ts";

describe("unpinnedReason", () => {
  it.each([
    "postgres:16.4-alpine",
    "redis:7-alpine",
    "mongo:7",
    "rustfs/rustfs:1.0.0",
    "dxflrs/garage:v2.1.0",
    "ghcr.io/org/app:2026.11.30",
    "localhost:5000/team/app:1.2.3",
    "minio/minio:RELEASE.2025-09-07T16-13-09Z",
    "redis@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "redis:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "redis:${REDIS_TAG:-7.4.2}",
    "redis:${REDIS_TAG-7.4.2}",
  ])("accepts %s", (image) => {
    expect(unpinnedReason(image)).toBeNull();
  });

  it.each([
    ["redis", /no tag/],
    ["localhost:5000/team/app", /no tag/],
    ["docker.io/library/redis:latest", /floating tag :latest/],
    ["minio/minio:LATEST", /floating tag/],
    ["caddy:edge", /floating tag :edge/],
    ["ghcr.io/org/app:main", /floating tag :main/],
    ["app:nightly", /floating tag/],
    ["nginx:stable-alpine3.20", /floating tag/],
    ["node:alpine", /names no version/],
    ["debian:bookworm", /names no version/],
    ["redis:", /empty tag/],
    ["redis:${REDIS_TAG}", /variable without a default/],
    ["redis:${REDIS_TAG:?set it}", /variable without a default/],
    ["redis@sha256:abc", /malformed digest/],
  ])("refuses %s", (image, reason) => {
    expect(unpinnedReason(image)).toMatch(reason);
  });
});

describe("findUnpinnedImages", () => {
  it("reports each unpinned service and skips pinned and locally built ones", () => {
    const yaml = `
services:
  db:
    image: postgres:16.4-alpine
  cache:
    image: redis
  storage:
    image: minio/minio:latest
  objects:
    image: rustfs/rustfs:edge
  edge:
    build: { context: ., dockerfile: edge/Dockerfile }
    image: streamlet-edge
  worker:
    build: .
  sidecar: {}
`;
    expect(findUnpinnedImages(yaml)).toEqual([
      { service: "cache", image: "redis", reason: "no tag (Docker pulls :latest)" },
      { service: "storage", image: "minio/minio:latest", reason: "floating tag :latest" },
      { service: "objects", image: "rustfs/rustfs:edge", reason: "floating tag :edge" },
    ]);
  });

  it("follows anchors and merge keys, so an image inherited from an x- block is checked", () => {
    const yaml = `
x-base: &base
  image: garage:main
  restart: unless-stopped
x-pinned: &pinned
  image: garage:v2.1.0
services:
  a:
    <<: *base
  b:
    <<: *pinned
  c:
    <<: *base
    image: garage:v2.1.0
`;
    expect(findUnpinnedImages(yaml)).toEqual([
      { service: "a", image: "garage:main", reason: "floating tag :main" },
    ]);
  });

  it("treats a file without services as having nothing to pin, and refuses what is not a compose file", () => {
    expect(findUnpinnedImages("volumes:\n  data:\n")).toEqual([]);
    expect(() => findUnpinnedImages("just text")).toThrow(/not a compose file/);
    expect(() => findUnpinnedImages("services: [a, b]\n")).toThrow(/not a mapping/);
  });
});
