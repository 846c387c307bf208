import { describe, expect, it } from "vitest";
import { ConfigError, DEFAULT_RATE_LIMITS, loadConfig } from "../src/config.ts";
import { testEnv } from "./helpers.ts";

describe("rate limit config", () => {
  it("has sane defaults", () => {
    expect(loadConfig({ ...testEnv }).rateLimits).toEqual({
      signup: { limit: 30, windowSeconds: 3600 },
      login: { limit: 20, windowSeconds: 900 },
      loginFailures: { limit: 10, windowSeconds: 900 },
      refresh: { limit: 60, windowSeconds: 900 },
      videos: { limit: 50, windowSeconds: 86_400 },
      comments: { limit: 20, windowSeconds: 60 },
      reactions: { limit: 60, windowSeconds: 60 },
      captions: { limit: 60, windowSeconds: 3600 },
    });
    expect(loadConfig({ ...testEnv }).rateLimits).toEqual(DEFAULT_RATE_LIMITS);
  });

  it("shares cache misses in the isolate and the origin shield by default, each alone or neither on request", () => {
    const coalescing = (value?: string) =>
      loadConfig({ ...testEnv, ...(value === undefined ? {} : { ORIGIN_COALESCING: value }) })
        .originCoalescing;
    expect(coalescing()).toEqual({ isolate: true, shield: true });
    expect(coalescing("on")).toEqual({ isolate: true, shield: true });
    expect(coalescing("isolate")).toEqual({ isolate: true, shield: false });
    expect(coalescing("shield")).toEqual({ isolate: false, shield: true });
    expect(coalescing("off")).toEqual({ isolate: false, shield: false });
    expect(() => coalescing("sometimes")).toThrow(
      /ORIGIN_COALESCING: must be "on", "isolate", "shield" or "off"/,
    );
  });

  it("trusts CF-Connecting-IP only when told to, and says what it takes", () => {
    expect(loadConfig({ ...testEnv }).trustCfConnectingIp).toBe(false);
    expect(loadConfig({ ...testEnv, TRUST_CF_CONNECTING_IP: "" }).trustCfConnectingIp).toBe(false);
    expect(loadConfig({ ...testEnv, TRUST_CF_CONNECTING_IP: "false" }).trustCfConnectingIp).toBe(false);
    expect(loadConfig({ ...testEnv, TRUST_CF_CONNECTING_IP: "true" }).trustCfConnectingIp).toBe(true);
    expect(() => loadConfig({ ...testEnv, TRUST_CF_CONNECTING_IP: "yes" })).toThrow(
      /TRUST_CF_CONNECTING_IP: must be "true" or "false"/,
    );
  });

  it("reads each limit from its var, empty meaning the default and off meaning none", () => {
    const config = loadConfig({
      ...testEnv,
      RATE_LIMIT_SIGNUP: "5/1h",
      RATE_LIMIT_LOGIN: "",
      RATE_LIMIT_LOGIN_FAILURES: "off",
      RATE_LIMIT_REFRESH: "100/60",
      RATE_LIMIT_VIDEOS: "5/1d",
      RATE_LIMIT_COMMENTS: "off",
      RATE_LIMIT_REACTIONS: "",
      RATE_LIMIT_CAPTIONS: "3/1h",
    });
    expect(config.rateLimits).toEqual({
      signup: { limit: 5, windowSeconds: 3600 },
      login: DEFAULT_RATE_LIMITS.login,
      loginFailures: null,
      refresh: { limit: 100, windowSeconds: 60 },
      videos: { limit: 5, windowSeconds: 86_400 },
      comments: null,
      reactions: DEFAULT_RATE_LIMITS.reactions,
      captions: { limit: 3, windowSeconds: 3600 },
    });
  });

  it("turns every limit off with RATE_LIMITS=off", () => {
    const config = loadConfig({ ...testEnv, RATE_LIMITS: "off", RATE_LIMIT_SIGNUP: "5/1h" });
    expect(Object.values(config.rateLimits)).toEqual([null, null, null, null, null, null, null, null]);
    expect(loadConfig({ ...testEnv, RATE_LIMITS: "on" }).rateLimits).toEqual(DEFAULT_RATE_LIMITS);
  });

  it("fails fast, naming the var, on a malformed limit", () => {
    expect(() => loadConfig({ ...testEnv, RATE_LIMIT_LOGIN: "lots" })).toThrow(ConfigError);
    expect(() => loadConfig({ ...testEnv, RATE_LIMIT_LOGIN: "lots" })).toThrow(
      /RATE_LIMIT_LOGIN: must look like/,
    );
    expect(() => loadConfig({ ...testEnv, RATE_LIMITS: "maybe" })).toThrow(
      /RATE_LIMITS: must be "on" or "off"/,
    );
  });
});
