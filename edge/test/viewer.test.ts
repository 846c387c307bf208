import { describe, expect, it } from "vitest";
import { viewerKey } from "../src/engagement/viewer.ts";

const secret = "s".repeat(32);

describe("viewerKey", () => {
  it("is the user id for a signed-in viewer, wherever they watch from", async () => {
    const a = await viewerKey({ userId: "u-1", ip: "203.0.113.7", userAgent: "Firefox" }, secret);
    const b = await viewerKey({ userId: "u-1", ip: "198.51.100.2", userAgent: "Safari" }, secret);
    expect(a).toBe("user:u-1");
    expect(b).toBe(a);
  });

  it("is a stable salted hash of address and user agent for anonymous viewers, never the address", async () => {
    const viewer = { userId: null, ip: "203.0.113.7", userAgent: "Firefox" };
    const key = await viewerKey(viewer, secret);
    expect(key).toMatch(/^anon:[0-9a-f]{64}$/);
    expect(key).not.toContain("203.0.113.7");
    expect(await viewerKey(viewer, secret)).toBe(key);
    const others = [
      await viewerKey({ ...viewer, ip: "203.0.113.8" }, secret),
      await viewerKey({ ...viewer, userAgent: "Firefox 2" }, secret),
      await viewerKey(viewer, "t".repeat(32)),
    ];
    expect(new Set([key, ...others]).size).toBe(4);
    // The two fields cannot run into each other.
    expect(await viewerKey({ userId: null, ip: "a\nb", userAgent: "c" }, secret)).not.toBe(
      await viewerKey({ userId: null, ip: "a", userAgent: "b\nc" }, secret),
    );
  });

  it("still gives anonymous viewers without an address or user agent a key", async () => {
    const key = await viewerKey({ userId: null, ip: undefined, userAgent: undefined }, secret);
    expect(key).toMatch(/^anon:[0-9a-f]{64}$/);
  });
});
