import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { outputPrefix, segmentName } from "@streamlet/shared";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import type { OriginShield } from "../../src/play/origin-shield.ts";
import { readThroughShield, shieldName } from "../../src/play/shield-read.ts";
import { Storage } from "../../src/storage.ts";
import { edgeFetch, newUser, newVideo } from "./helpers.ts";

/**
 * The origin shield inside workerd, against the local S3 server behind the counting proxy the global setup
 * starts (workers-global-setup.ts: each object GET held 150 ms like a remote bucket, so concurrent reads
 * overlap). Each `readThroughShield` call is one RPC into the Durable Object, as a separate isolate of the
 * data centre makes it: the object, not the caller, is what shares the read.
 */

const config = loadConfig(env);
const storage = new Storage(config.s3);

/** Storage GETs of `key` so far, as the counting proxy saw them. */
async function storageGets(key: string): Promise<number> {
  const res = await fetch(`${config.s3.endpoint}/__proxy/gets?key=${encodeURIComponent(key)}`);
  return ((await res.json()) as { gets: number }).gets;
}

/** A segment-sized object with bytes that differ at every position of a 251-byte cycle. */
function segmentBytes(size: number, seed: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(size).map((_, i) => (i * 7 + seed) % 251);
}

function shield(colo: string, videoId: string): DurableObjectStub<OriginShield> {
  return env.ORIGIN_SHIELD.get(env.ORIGIN_SHIELD.idFromName(shieldName(colo, videoId)));
}

const storageReads = (colo: string, videoId: string) =>
  runInDurableObject(shield(colo, videoId), (instance: OriginShield) => instance.storageReads);

async function bodyOf(response: Response | null): Promise<Uint8Array> {
  expect(response).not.toBeNull();
  return new Uint8Array(await (response as Response).arrayBuffer());
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);
}

describe("origin shield", () => {
  it("reads storage once for concurrent reads from many isolates; each gets the whole object", async () => {
    const videoId = crypto.randomUUID();
    const key = `${outputPrefix(videoId)}720p/${segmentName(1)}`;
    const bytes = segmentBytes(400_000, 1);
    await storage.put(key, bytes, "video/iso.segment");

    const responses = await Promise.all(
      Array.from({ length: 12 }, () => readThroughShield(env.ORIGIN_SHIELD, "AMS", videoId, key)),
    );
    const bodies = await Promise.all(responses.map(bodyOf));
    for (const [i, body] of bodies.entries()) expect(same(body, bytes), `caller ${i}`).toBe(true);
    expect(responses[0]?.headers.get("content-length")).toBe(String(bytes.byteLength));
    expect(await storageGets(key)).toBe(1);
    expect(await storageReads("AMS", videoId)).toBe(1);

    // Nothing is kept once the read is over: a later miss (the cache lost it) reads storage again.
    expect(same(await bodyOf(await readThroughShield(env.ORIGIN_SHIELD, "AMS", videoId, key)), bytes)).toBe(
      true,
    );
    expect(await storageGets(key)).toBe(2);
  });

  it("gives every caller the missing object from one read", async () => {
    const videoId = crypto.randomUUID();
    const key = `${outputPrefix(videoId)}720p/${segmentName(9)}`;
    const results = await Promise.all(
      Array.from({ length: 6 }, () => readThroughShield(env.ORIGIN_SHIELD, "AMS", videoId, key)),
    );
    expect(results).toEqual([null, null, null, null, null, null]);
    expect(await storageGets(key)).toBe(1);
  });

  it("is one object per video and data centre", async () => {
    const videoId = crypto.randomUUID();
    const other = crypto.randomUUID();
    const key = `${outputPrefix(videoId)}480p/${segmentName(2)}`;
    await storage.put(key, segmentBytes(50_000, 2), "video/iso.segment");
    await Promise.all([
      readThroughShield(env.ORIGIN_SHIELD, "AMS", videoId, key).then(bodyOf),
      readThroughShield(env.ORIGIN_SHIELD, "SJC", videoId, key).then(bodyOf),
    ]);
    // Each data centre's shield reads for itself.
    expect(await storageGets(key)).toBe(2);
    expect(await storageReads("AMS", videoId)).toBe(1);
    expect(await storageReads("SJC", videoId)).toBe(1);
    expect(shieldName("AMS", videoId)).not.toBe(shieldName("AMS", other));
    expect(await storageReads("AMS", other)).toBe(0);
  });

  it("carries the play route's concurrent misses: one storage read through this data centre's shield", async () => {
    const owner = await newUser();
    const video = await newVideo(owner.id, { status: "ready", visibility: "public" });
    const asset = `720p/${segmentName(1)}`;
    const key = `${outputPrefix(video.id)}${asset}`;
    const bytes = segmentBytes(300_000, 3);
    await storage.put(key, bytes, "video/iso.segment");

    const responses = await Promise.all(
      Array.from({ length: 20 }, () => edgeFetch(`/v1/play/${video.id}/${asset}`)),
    );
    for (const response of responses) {
      expect(response.status).toBe(200);
      expect(same(new Uint8Array(await response.arrayBuffer()), bytes)).toBe(true);
    }
    expect(await storageGets(key)).toBe(1);
    // The route reached storage through the shield (no colo inside the test runtime: "local").
    expect(await storageReads("local", video.id)).toBe(1);
  });
});
