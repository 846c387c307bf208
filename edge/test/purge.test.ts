import { afterEach, describe, expect, it } from "vitest";
import { startFakeCloudflareApi } from "../../scripts/stack/fake-cloudflare-api.ts";
import { videoCacheTag } from "../src/play/cache-tag.ts";
import { CachePurgeError, purgeEverywhere } from "../src/play/purge.ts";

// Cloudflare's purge API is out of reach from tests (and must not be purged by them): a local HTTP
// stand-in answers like it, over real HTTP.
const zoneId = "0123456789abcdef0123456789abcdef";
const token = "a-purge-token-of-enough-length";
const id = "6f1c7c1e-58a5-4c7e-9d43-0a4a7d6b2f10";
let api: Awaited<ReturnType<typeof startFakeCloudflareApi>> | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

describe("purgeEverywhere", () => {
  it("purges a video by its Cache-Tag with the zone's token", async () => {
    api = await startFakeCloudflareApi({ zoneId, token });
    await purgeEverywhere({ zoneId, token, apiBase: api.apiBase }, id);
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]).toMatchObject({ zoneId, authorized: true, body: { tags: [videoCacheTag(id)] } });
  });

  it("does not retry a refused token, and says why", async () => {
    api = await startFakeCloudflareApi({ zoneId, token });
    const err = await purgeEverywhere(
      { zoneId, token: "wrong-token-wrong-token", apiBase: api.apiBase },
      id,
      {
        backoffMs: [1, 1],
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CachePurgeError);
    expect((err as Error).message).toMatch(/HTTP 403.*Authentication error/);
    expect(api.requests).toHaveLength(1);
  });

  it("retries 429/5xx and network failures, then gives up with the last reason", async () => {
    const statuses = [503, 429, 200];
    const seen: number[] = [];
    const flaky: typeof fetch = async () => {
      const status = statuses[seen.length] ?? 200;
      seen.push(status);
      return Response.json({ success: status === 200, errors: [] }, { status });
    };
    await purgeEverywhere({ zoneId, token, apiBase: "http://unused" }, id, {
      fetch: flaky,
      backoffMs: [1, 1],
    });
    expect(seen).toEqual([503, 429, 200]);

    const down: typeof fetch = async () => {
      throw new TypeError("fetch failed");
    };
    const err = await purgeEverywhere({ zoneId, token, apiBase: "http://unused" }, id, {
      fetch: down,
      backoffMs: [1, 1],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CachePurgeError);
    expect((err as Error).message).toMatch(/network error: fetch failed/);
  });
});
