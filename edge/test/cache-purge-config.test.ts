import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.ts";
import { testEnv } from "./helpers.ts";

const zone = "0123456789abcdef0123456789abcdef";
const token = "a-purge-token-of-enough-length";

describe("cache purge config", () => {
  it("is off (this data centre only) unless both zone and token are set; empty means unset", () => {
    expect(loadConfig({ ...testEnv }).cachePurge).toBeNull();
    expect(
      loadConfig({ ...testEnv, CLOUDFLARE_ZONE_ID: "", CLOUDFLARE_PURGE_TOKEN: "" }).cachePurge,
    ).toBeNull();
    expect(
      loadConfig({ ...testEnv, CLOUDFLARE_ZONE_ID: zone, CLOUDFLARE_PURGE_TOKEN: token }).cachePurge,
    ).toEqual({
      zoneId: zone,
      token,
      apiBase: "https://api.cloudflare.com/client/v4",
    });
  });

  it("refuses one without the other, a malformed zone id and a short token, naming the var", () => {
    const bad = (vars: Record<string, string>) => () => loadConfig({ ...testEnv, ...vars });
    expect(bad({ CLOUDFLARE_ZONE_ID: zone })).toThrow(ConfigError);
    expect(bad({ CLOUDFLARE_ZONE_ID: zone })).toThrow(/CLOUDFLARE_PURGE_TOKEN: set both/);
    expect(bad({ CLOUDFLARE_PURGE_TOKEN: token })).toThrow(
      /set both CLOUDFLARE_ZONE_ID and CLOUDFLARE_PURGE_TOKEN/,
    );
    expect(bad({ CLOUDFLARE_ZONE_ID: "not-a-zone", CLOUDFLARE_PURGE_TOKEN: token })).toThrow(
      /CLOUDFLARE_ZONE_ID: must be a 32-hex zone id/,
    );
    expect(bad({ CLOUDFLARE_ZONE_ID: zone, CLOUDFLARE_PURGE_TOKEN: "short" })).toThrow(
      /CLOUDFLARE_PURGE_TOKEN: must be an API token/,
    );
    expect(
      bad({ CLOUDFLARE_ZONE_ID: zone, CLOUDFLARE_PURGE_TOKEN: token, CLOUDFLARE_API_BASE: "nope" }),
    ).toThrow(/CLOUDFLARE_API_BASE/);
  });
});
