import { describe, expect, it } from "vitest";
import { viewerKey } from "../src/engagement/viewer.ts";

const secret = "s".repeat(32);

describe("viewerKey", () => {
  it("is the user id for a signed-in viewer, wherever they watch from", async () => {
    const a = await viewerKey({ userId: "u-1", address: "ip:203.0.113.7" }, secret);
    const b = await viewerKey({ userId: "u-1", address: "ip:198.51.100.2" }, secret);
    expect(a).toBe("user:u-1");
    expect(b).toBe(a);
  });

  it("is a stable salted hash of the address alone for anonymous viewers, never the address", async () => {
    const viewer = { userId: null, address: "ip:203.0.113.7" };
    const key = await viewerKey(viewer, secret);
    expect(key).toMatch(/^anon:[0-9a-f]{64}$/);
    expect(key).not.toContain("203.0.113.7");
    expect(await viewerKey(viewer, secret)).toBe(key);
    const others = [
      await viewerKey({ ...viewer, address: "ip:203.0.113.8" }, secret),
      await viewerKey(viewer, "t".repeat(32)),
    ];
    expect(new Set([key, ...others]).size).toBe(3);
  });
});
