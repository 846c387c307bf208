import { env } from "cloudflare:workers";
import { DOWNLOAD_PATH, outputPrefix } from "@streamlet/shared";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { Storage } from "../../src/storage.ts";
import { signDownloadToken } from "../../src/videos/download-token.ts";
import { edgeFetch, newUser, newVideo } from "./helpers.ts";

/**
 * A resumed MP4 download inside workerd, against the local S3 server behind the counting proxy (the
 * workers project's global setup): a Range request reads only that range from storage.
 */

const config = loadConfig(env);
const SIZE = 300_000;

/** Body bytes storage has sent for `key` so far, as the counting proxy saw them. */
async function storageBytes(key: string): Promise<number> {
  const res = await fetch(`${config.s3.endpoint}/__proxy/gets?key=${encodeURIComponent(key)}`);
  return ((await res.json()) as { bytes: number }).bytes;
}

/** A ready public video with a stored download of SIZE bytes, and its download URL's path. */
async function videoWithDownload() {
  const owner = await newUser();
  const video = await newVideo(owner.id, {
    status: "ready",
    visibility: "public",
    title: "ranged",
    assets: { storyboard: null, dash: true, download: { rendition: "720p", bytes: SIZE } },
  });
  const key = `${outputPrefix(video.id)}${DOWNLOAD_PATH}`;
  const bytes = new Uint8Array(SIZE).map((_, i) => (i * 13 + 5) % 251);
  await new Storage(config.s3).put(key, bytes, "video/mp4");
  const exp = Math.floor(Date.now() / 1000) + 600;
  const token = await signDownloadToken(video.id, "viewer", env.JWT_SECRET, exp);
  return { key, bytes, path: `/v1/download/${video.id}/${token}/ranged.mp4` };
}

const same = (a: Uint8Array, b: Uint8Array) => a.byteLength === b.byteLength && a.every((x, i) => x === b[i]);

describe("a resumed download", () => {
  it("reads only the asked range from storage", async () => {
    const { key, bytes, path } = await videoWithDownload();
    const res = await edgeFetch(path, { headers: { range: "bytes=299000-" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 299000-${SIZE - 1}/${SIZE}`);
    expect(res.headers.get("content-length")).toBe("1000");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment;/);
    expect(same(new Uint8Array(await res.arrayBuffer()), bytes.slice(299_000))).toBe(true);
    expect(await storageBytes(key)).toBe(1000);
  });

  it("honours If-Range: the same ETag gets the range from storage, another one the whole file", async () => {
    const { key, bytes, path } = await videoWithDownload();
    const whole = await edgeFetch(path);
    expect(whole.status).toBe(200);
    const etag = whole.headers.get("etag") ?? "";
    expect(etag).toMatch(/^"/);
    expect(same(new Uint8Array(await whole.arrayBuffer()), bytes)).toBe(true);
    expect(await storageBytes(key)).toBe(SIZE);

    const resumed = await edgeFetch(path, { headers: { range: "bytes=100-199", "if-range": etag } });
    expect(resumed.status).toBe(206);
    expect(same(new Uint8Array(await resumed.arrayBuffer()), bytes.slice(100, 200))).toBe(true);
    expect(await storageBytes(key)).toBe(SIZE + 100);

    // The file changed since (another ETag): the whole of it, as If-Range requires.
    const stale = await edgeFetch(path, { headers: { range: "bytes=100-199", "if-range": '"stale"' } });
    expect(stale.status).toBe(200);
    expect(same(new Uint8Array(await stale.arrayBuffer()), bytes)).toBe(true);
  });

  it("answers an unsatisfiable range with 416 and the file's size", async () => {
    const { path } = await videoWithDownload();
    const res = await edgeFetch(path, { headers: { range: `bytes=${SIZE}-` } });
    expect(res.status).toBe(416);
    expect(res.headers.get("content-range")).toBe(`bytes */${SIZE}`);
  });
});
