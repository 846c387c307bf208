import { describe, expect, it } from "vitest";
import { ApiError, describeError, errorFromResponse } from "../src/lib/errors.ts";
import { nextPath } from "../src/lib/next-path.ts";

describe("describeError", () => {
  it("says what an API error means, by code or in the edge's own words", () => {
    expect(describeError(new ApiError(401, "invalid_credentials", "email or password is incorrect"))).toBe(
      "That email and password do not match an account.",
    );
    expect(describeError(new ApiError(409, "handle_taken", "that handle is taken"))).toBe(
      "That handle is taken.",
    );
    expect(describeError(new ApiError(422, "x", "   "))).toBe("The request failed.");
  });

  it("tells a network failure from a server's answer", () => {
    expect(describeError(new TypeError("Failed to fetch"))).toMatch(/Could not reach Streamlet/);
  });

  it("reads the { error: { code, message } } envelope, and names the status when there is none", () => {
    const res = new Response(null, { status: 404 });
    expect(errorFromResponse(res, { error: { code: "not_found", message: "no such video" } })).toMatchObject({
      status: 404,
      code: "not_found",
      message: "no such video",
    });
    expect(errorFromResponse(new Response(null, { status: 502 }), "<html>")).toMatchObject({
      status: 502,
      code: "http_502",
    });
  });
});

describe("nextPath (where sign-in returns to)", () => {
  it("accepts same-site paths only", () => {
    expect(nextPath("/upload")).toBe("/upload");
    expect(nextPath("/watch/abc?t=3")).toBe("/watch/abc?t=3");
    expect(nextPath(undefined)).toBe("/");
    expect(nextPath("https://evil.example/")).toBe("/");
    expect(nextPath("//evil.example/")).toBe("/");
    expect(nextPath("/\\evil.example/")).toBe("/");
    // Browsers drop tabs and newlines from URLs: "/<tab>/evil.example" would become "//evil.example".
    expect(nextPath("/\t/evil.example/")).toBe("/");
    expect(nextPath("/\n/evil.example/")).toBe("/");
    expect(nextPath("/c/cooking?tab=videos#top")).toBe("/c/cooking?tab=videos#top");
  });
});
