import { mkdtempSync, openAsBlob, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { type CreateVideoResponse, sourceKey } from "@streamlet/shared";
import { uploadSource } from "@streamlet/shared/upload-client";
import { AwsClient } from "aws4fetch";
import { eq } from "drizzle-orm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signedUpClient, waitForTerminal } from "../../../scripts/stack/client.ts";
import { makeClip } from "../../../scripts/stack/clip.ts";
import { noise } from "../../../scripts/stack/noise.ts";
import { run } from "../../../scripts/stack/proc.ts";
import { videos } from "../../src/db/schema.ts";
import { Storage } from "../../src/storage.ts";
import { call, config, edge, expectError, openDb, putObject } from "./helpers.ts";

// Uploads straight to the local S3 server (s3rver with the multipart routes it lacks added by
// scripts/stack/s3-server.ts: ListParts, AbortMultipartUpload, ListMultipartUploads). The stack runs with
// MULTIPART_THRESHOLD_BYTES=6MiB, UPLOAD_PART_BYTES=5MiB, MAX_SOURCE_BYTES=1GiB, STORAGE_QUOTA_BYTES=3GiB
// (scripts/stack/vitest-global-setup.ts), so a file of a few MiB goes in parts.

const MIB = 1024 * 1024;
const { db, end } = openDb();
const storage = new Storage(config.s3);
/** Signs with the bucket's own keys: what a client holding them (never a browser) could do. */
const signer = new AwsClient({
  accessKeyId: config.s3.accessKeyId,
  secretAccessKey: config.s3.secretAccessKey,
  region: config.s3.region,
  service: "s3",
});
let dir: string;
/** A real video of about 12 MiB (lossless noise): three parts of 5, 5 and the rest. */
let bigClip: string;
let smallClip: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), "streamlet-uploads-"));
  bigClip = path.join(dir, "noise.mp4");
  await run("ffmpeg", [
    ...[
      "-v",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "nullsrc=s=640x360:r=15,geq=lum='random(1)*255':cb=128:cr=128",
    ],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "2.6"],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    ...["-movflags", "+faststart", bigClip],
  ]);
  smallClip = await makeClip(path.join(dir, "small.mp4"), { seconds: 2, width: 320, height: 240 });
  const size = statSync(bigClip).size;
  expect(size, "the clip must need three parts").toBeGreaterThan(10 * MIB);
  expect(size).toBeLessThan(15 * MIB);
}, 60_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await end();
});

/** Counts the bytes of every PUT to storage and how many run at once. */
function countingFetch() {
  const stats = { bytes: 0, puts: 0, inFlight: 0, maxInFlight: 0, statuses: [] as number[] };
  const fetcher: typeof fetch = async (input, init) => {
    stats.puts += 1;
    stats.bytes += (init?.body as Blob | undefined)?.size ?? 0;
    stats.inFlight += 1;
    stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
    try {
      const res = await fetch(input, init);
      stats.statuses.push(res.status);
      return res;
    } finally {
      stats.inFlight -= 1;
    }
  };
  return { stats, fetcher };
}

/** Uploads `size` zero bytes as the created video's ticket says, then confirms: the video is queued. */
async function uploadZerosAndConfirm(
  client: Awaited<ReturnType<typeof signedUpClient>>,
  created: CreateVideoResponse & { upload: NonNullable<CreateVideoResponse["upload"]> },
  size: number,
) {
  const { video, upload } = created;
  await uploadSource({
    api: client.api,
    videoId: video.id,
    ticket: upload,
    file: new Blob([new Uint8Array(size)]),
  });
  expect((await client.markUploaded(video.id)).video.status).toBe("queued");
}

async function createMultipart(client: Awaited<ReturnType<typeof signedUpClient>>, size: number) {
  const created = await client.createVideo("parts", size);
  expect(created.upload).toMatchObject({ kind: "multipart", size, partSize: 5 * MIB });
  return created as CreateVideoResponse & { upload: { kind: "multipart"; partCount: number } };
}

describe("multipart uploads", () => {
  it("resumes an upload killed half-way (bytes sent again ≤ one part), completes it from storage, and plays", async () => {
    const client = await signedUpClient(edge, "resume");
    const size = statSync(bigClip).size;
    const created = await client.createVideo("resumed", bigClip);
    expect(created.upload).toMatchObject({ kind: "multipart", size, partSize: 5 * MIB, partCount: 3 });
    const id = created.video.id;
    const file = await openAsBlob(bigClip);

    // First run: one part at a time, killed once the first part is stored.
    const first = countingFetch();
    const killer = new AbortController();
    await expect(
      uploadSource({
        api: client.api,
        videoId: id,
        ticket: created.upload as NonNullable<CreateVideoResponse["upload"]>,
        file,
        concurrency: 1,
        signal: killer.signal,
        fetch: first.fetcher,
        onProgress: (p) => {
          if (p.partsDone === 1) killer.abort(new Error("killed"));
        },
      }),
    ).rejects.toThrow();

    const state = await call("GET", `/v1/videos/${id}/upload`, { token: client.accessToken() });
    expect(state.status).toBe(200);
    const held = (state.json as { parts: { partNumber: number; size: number }[] }).parts;
    expect(held.map((p) => p.partNumber)).toContain(1);

    // Second run: in parallel; only what storage lacks is sent.
    const second = countingFetch();
    const done = await uploadSource({
      api: client.api,
      videoId: id,
      ticket: created.upload as NonNullable<CreateVideoResponse["upload"]>,
      file,
      concurrency: 3,
      fetch: second.fetcher,
    });
    expect(done.uploadedBytes).toBe(size);
    const heldBytes = held.reduce((sum, p) => sum + p.size, 0);
    expect(second.stats.bytes).toBe(size - heldBytes);
    expect(first.stats.bytes + second.stats.bytes - size, "bytes sent twice").toBeLessThanOrEqual(5 * MIB);

    expect((await client.markUploaded(id)).video.status).toBe("queued");
    const [row] = await db.select().from(videos).where(eq(videos.id, id));
    expect(row).toMatchObject({ sourceBytes: size, uploadId: null });
    const head = await storage.headSize(sourceKey(id));
    expect(head).toBe(size);
    const video = await waitForTerminal(client, id, { timeoutMs: 180_000 });
    expect(video.status, video.failureReason ?? "").toBe("ready");
    const master = await fetch(video.playback.hls ?? "");
    expect(master.status).toBe(200);
    expect(await master.text()).toContain("#EXT-X-STREAM-INF");
  }, 240_000);

  it("uploads parts in parallel", async () => {
    const client = await signedUpClient(edge, "parallel");
    const size = 4 * 5 * MIB + 123;
    const created = await createMultipart(client, size);
    const counting = countingFetch();
    await uploadSource({
      api: client.api,
      videoId: created.video.id,
      ticket: created.upload,
      file: new Blob([new Uint8Array(size).fill(1)]),
      concurrency: 4,
      fetch: counting.fetcher,
    });
    expect(counting.stats.puts).toBe(5);
    expect(counting.stats.maxInFlight).toBeGreaterThanOrEqual(2);
    const parts = await storage.listParts(sourceKey(created.video.id), await uploadIdOf(created.video.id));
    expect(parts?.map((p) => p.size)).toEqual([5 * MIB, 5 * MIB, 5 * MIB, 5 * MIB, 123]);
  }, 60_000);

  it("asks for a fresh URL when a part's URL has expired", async () => {
    const client = await signedUpClient(edge, "expired");
    const size = 7 * MIB;
    const created = await createMultipart(client, size);
    const uploadId = await uploadIdOf(created.video.id);
    // A URL for part 1 signed two hours ago, valid for one: expired, as one handed out long before would be.
    const url = new URL(`${config.s3.publicEndpoint}/${config.s3.bucket}/${sourceKey(created.video.id)}`);
    url.searchParams.set("partNumber", "1");
    url.searchParams.set("uploadId", uploadId);
    url.searchParams.set("X-Amz-Expires", "3600");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000).toISOString().replace(/[:-]|\.\d{3}/g, "");
    const expired = (
      await signer.sign(url.toString(), {
        method: "PUT",
        headers: { "content-length": String(5 * MIB) },
        aws: { signQuery: true, datetime: twoHoursAgo, allHeaders: true },
      })
    ).url;
    const counting = countingFetch();
    let swapped = false;
    await uploadSource({
      api: client.api,
      videoId: created.video.id,
      ticket: created.upload,
      file: new Blob([new Uint8Array(size)]),
      concurrency: 1,
      fetch: (input, init) => {
        if (!swapped && String(input).includes("partNumber=1&")) {
          swapped = true;
          return counting.fetcher(expired, init);
        }
        return counting.fetcher(input, init);
      },
    });
    expect(swapped).toBe(true);
    expect(counting.stats.statuses[0]).toBe(403); // storage refused the expired URL
    expect(counting.stats.statuses.slice(1)).toEqual([200, 200]);
    expect((await client.markUploaded(created.video.id)).video.status).toBe("queued");
  }, 60_000);

  it("refuses to complete with parts missing (409, naming them), and completes once they are there", async () => {
    const client = await signedUpClient(edge, "missing");
    const size = 3 * 5 * MIB;
    const created = await createMultipart(client, size);
    const id = created.video.id;
    const urls = await call("POST", `/v1/videos/${id}/upload/parts`, {
      token: client.accessToken(),
      body: { partNumbers: [2] },
    });
    expect(urls.status).toBe(200);
    const part = (urls.json as { parts: { partNumber: number; size: number; url: string }[] }).parts[0];
    expect(part).toMatchObject({ partNumber: 2, size: 5 * MIB });
    const put = await fetch(part?.url ?? "", { method: "PUT", body: new Uint8Array(5 * MIB) });
    expect(put.status).toBe(200);

    const refused = await call("POST", `/v1/videos/${id}/uploaded`, { token: client.accessToken() });
    expectError(refused, 409, "upload_incomplete");
    expect(refused.text).toContain("missing: 1, 3");
    expect((await call("GET", `/v1/videos/${id}`)).json).toMatchObject({ status: "awaiting_upload" });

    // Part numbers past the last part, and too many at once, are refused.
    expectError(
      await call("POST", `/v1/videos/${id}/upload/parts`, {
        token: client.accessToken(),
        body: { partNumbers: [4] },
      }),
      400,
      "invalid_request",
    );
    const many = Array.from({ length: 101 }, (_, i) => i + 1);
    expectError(
      await call("POST", `/v1/videos/${id}/upload/parts`, {
        token: client.accessToken(),
        body: { partNumbers: many },
      }),
      400,
      "invalid_request",
    );

    await uploadZerosAndConfirm(client, created, size);
  }, 60_000);

  it("takes a part of its signed size only; parts that do not make the declared size are discarded (422)", async () => {
    const client = await signedUpClient(edge, "mismatch");
    const size = 6 * MIB + 100;
    const created = await createMultipart(client, size);
    const id = created.video.id;
    const urls = await call("POST", `/v1/videos/${id}/upload/parts`, {
      token: client.accessToken(),
      body: { partNumbers: [1, 2] },
    });
    const [one, two] = (urls.json as { parts: { url: string }[] }).parts;
    // A body of another size than the URL was signed for fails the signature.
    const wrong = await fetch(two?.url ?? "", { method: "PUT", body: new Uint8Array(200) });
    expect(wrong.status).toBe(403);
    await wrong.body?.cancel();

    // A client holding storage keys (or a store that does not check) could still put a part of another
    // size: the edge completes from what storage lists, checks every part, and discards the lot.
    const uploadId = await uploadIdOf(id);
    expect((await fetch(one?.url ?? "", { method: "PUT", body: new Uint8Array(5 * MIB) })).status).toBe(200);
    const direct = await signer.fetch(
      `${config.s3.endpoint}/${config.s3.bucket}/${sourceKey(id)}?partNumber=2&uploadId=${uploadId}`,
      { method: "PUT", body: new Uint8Array(300) },
    );
    expect(direct.status).toBe(200);
    const refused = await call("POST", `/v1/videos/${id}/uploaded`, { token: client.accessToken() });
    expectError(refused, 422, "upload_size_mismatch");
    expect(await storage.listParts(sourceKey(id), uploadId)).toBeNull(); // the old upload is gone
    const state = await call("GET", `/v1/videos/${id}/upload`, { token: client.accessToken() });
    expect(state.json).toMatchObject({ parts: [], uploadedBytes: 0, complete: false });

    // A fresh upload of the right bytes then goes through.
    await uploadZerosAndConfirm(client, created, size);
  }, 60_000);
});

describe("limits", () => {
  it("refuses a source over MAX_SOURCE_BYTES with 413 before anything is stored", async () => {
    const client = await signedUpClient(edge, "limit");
    const res = await call("POST", "/v1/videos", {
      token: client.accessToken(),
      body: { title: "too big", upload: { size: 1024 * MIB + 1 } },
    });
    expectError(res, 413, "source_too_large");
    expect(res.text).toContain(String(1024 * MIB));
  });

  it("keeps each user within STORAGE_QUOTA_BYTES, declared uploads included, and frees it on delete", async () => {
    const client = await signedUpClient(edge, "quota");
    const token = client.accessToken();
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await call("POST", "/v1/videos", {
        token,
        body: { title: `q${i}`, upload: { size: 1024 * MIB } },
      });
      expect(res.status).toBe(201);
      made.push((res.json as { video: { id: string } }).video.id);
    }
    const over = await call("POST", "/v1/videos", { token, body: { title: "q3", upload: { size: 1 } } });
    expectError(over, 403, "storage_quota_exceeded");
    // An import of unknown size needs room left too.
    const importing = await call("POST", "/v1/videos", {
      token,
      body: { title: "q-import", source: { url: "https://example.com/a.mp4" } },
    });
    expectError(importing, 403, "storage_quota_exceeded");
    // Another user is not affected.
    const other = await signedUpClient(edge, "quota-other");
    expect((await other.createVideo("fine", 1000)).video.status).toBe("awaiting_upload");

    expect((await call("DELETE", `/v1/videos/${made[0]}`, { token })).status).toBe(204);
    expect(
      (await call("POST", "/v1/videos", { token, body: { title: "q4", upload: { size: 1 } } })).status,
    ).toBe(201);
  });
});

describe("abort and cleanup", () => {
  it("aborts the multipart upload when its video is deleted", async () => {
    const client = await signedUpClient(edge, "abort");
    const created = await createMultipart(client, 2 * 5 * MIB);
    const id = created.video.id;
    const uploadId = await uploadIdOf(id);
    const urls = await call("POST", `/v1/videos/${id}/upload/parts`, {
      token: client.accessToken(),
      body: { partNumbers: [1] },
    });
    const url = (urls.json as { parts: { url: string }[] }).parts[0]?.url ?? "";
    expect((await fetch(url, { method: "PUT", body: new Uint8Array(5 * MIB) })).status).toBe(200);
    expect(await storage.listParts(sourceKey(id), uploadId)).toHaveLength(1);

    expect((await call("DELETE", `/v1/videos/${id}`, { token: client.accessToken() })).status).toBe(204);
    expect(await storage.listParts(sourceKey(id), uploadId)).toBeNull();
    const pending = await storage.listMultipartUploads(sourceKey(id));
    expect(pending).toEqual([]);
    // A part URL handed out before is worthless now.
    const late = await fetch(url, { method: "PUT", body: new Uint8Array(5 * MIB) });
    expect(late.status).toBe(404);
    await late.body?.cancel();
  }, 60_000);

  it("sweeps what a PUT URL handed out before a delete stores afterwards", async () => {
    const client = await signedUpClient(edge, "sweep");
    const created = await client.createVideo("deleted then put", 1000);
    const url = (created.upload as { url: string }).url;
    expect(
      (await call("DELETE", `/v1/videos/${created.video.id}`, { token: client.accessToken() })).status,
    ).toBe(204);
    // The URL is still valid for an hour: the PUT lands, with no video to count it against.
    const late = await fetch(url, { method: "PUT", body: new Uint8Array(1000) });
    expect(late.status).toBe(200);
    expect(await storage.headSize(sourceKey(created.video.id))).toBe(1000);
    expect((await scheduled(Date.now())).outcome).toBe("ok");
    expect(await storage.headSize(sourceKey(created.video.id))).toBeNull();
  });

  it("the scheduled cleanup removes videos never uploaded and aborts stale multipart uploads", async () => {
    const client = await signedUpClient(edge, "cleanup");
    const stale = await createMultipart(client, 2 * 5 * MIB);
    const fresh = await createMultipart(client, 2 * 5 * MIB);
    const staleUpload = await uploadIdOf(stale.video.id);
    const freshUpload = await uploadIdOf(fresh.video.id);
    // The stale one was last active two days ago (UPLOAD_EXPIRY_SECONDS is a day by default); asking for
    // the upload's state counts as activity, so the fresh one stays fresh.
    await db
      .update(videos)
      .set({ updatedAt: new Date(Date.now() - 2 * 86_400_000) })
      .where(eq(videos.id, stale.video.id));
    // An orphan: a multipart upload under sources/ that no video awaits (a crash before it was recorded).
    const orphanKey = sourceKey(crypto.randomUUID());
    const orphan = await storage.createMultipartUpload(orphanKey);

    const now = await scheduled(Date.now());
    expect(now.outcome).toBe("ok");
    expect((await call("GET", `/v1/videos/${stale.video.id}`)).status).toBe(404);
    expect(await storage.listParts(sourceKey(stale.video.id), staleUpload)).toBeNull();
    expect((await call("GET", `/v1/videos/${fresh.video.id}`)).status).toBe(200);
    expect(await storage.listParts(sourceKey(fresh.video.id), freshUpload)).toEqual([]);
    expect(await storage.listParts(orphanKey, orphan)).toEqual([]); // too young to be called stale

    // A day and a bit later, the fresh one and the orphan are stale too.
    const later = await scheduled(Date.now() + 86_400_000 + 60_000);
    expect(later.outcome).toBe("ok");
    expect((await call("GET", `/v1/videos/${fresh.video.id}`)).status).toBe(404);
    expect(await storage.listParts(sourceKey(fresh.video.id), freshUpload)).toBeNull();
    expect(await storage.listParts(orphanKey, orphan)).toBeNull();
  }, 60_000);
});

describe("retry", () => {
  it("re-runs a failed video from its stored source, as a new run", async () => {
    const client = await signedUpClient(edge, "retry");
    const token = client.accessToken();
    // Garbage first: the transcode fails for good.
    const garbage = path.join(dir, "garbage.bin");
    writeFileSync(garbage, noise(64 * 1024));
    const created = await client.createVideo("retried", garbage);
    const id = created.video.id;
    expectError(await call("POST", `/v1/videos/${id}/retry`, { token }), 409, "invalid_state"); // not failed
    await client.upload(created, garbage);
    await client.markUploaded(id);
    const failed = await waitForTerminal(client, id, { timeoutMs: 120_000 });
    expect(failed.status).toBe("failed");
    expect(failed.failureReason).toBeTruthy();

    // Someone else's video looks like no video; the owner's retry of the same bytes would fail again, so
    // the stored source is replaced with a real video (as a transient failure would have left it good).
    const other = await signedUpClient(edge, "retry-other");
    expectError(
      await call("POST", `/v1/videos/${id}/retry`, { token: other.accessToken() }),
      404,
      "not_found",
    );
    await putObject(sourceKey(id), new Uint8Array(readFileSync(smallClip)));
    const retried = await call("POST", `/v1/videos/${id}/retry`, { token });
    expect(retried.status, retried.text).toBe(202);
    expect(retried.json).toMatchObject({ video: { status: "queued", failureReason: null } });
    const [row] = await db.select().from(videos).where(eq(videos.id, id));
    expect(row?.transcodeRun).toBe(2);
    // A second retry while it runs is refused.
    expectError(await call("POST", `/v1/videos/${id}/retry`, { token }), 409, "invalid_state");

    const ready = await waitForTerminal(client, id, { timeoutMs: 120_000 });
    expect(ready.status, ready.failureReason ?? "").toBe("ready");
    expect((await fetch(ready.playback.hls ?? "")).status).toBe(200);
  }, 300_000);

  it("refuses a retry without a stored source (409 source_missing)", async () => {
    const client = await signedUpClient(edge, "retry-missing");
    const created = await client.createVideo("no source", 1000);
    await db
      .update(videos)
      .set({ status: "failed", failureReason: "broken" })
      .where(eq(videos.id, created.video.id));
    expectError(
      await call("POST", `/v1/videos/${created.video.id}/retry`, { token: client.accessToken() }),
      409,
      "source_missing",
    );
    expect((await call("GET", `/v1/videos/${created.video.id}`)).json).toMatchObject({ status: "failed" });
  });
});

describe("import from a URL", () => {
  let server: Server;
  let origin: string;
  const served = { clip: new Uint8Array() };

  beforeAll(async () => {
    served.clip = new Uint8Array(readFileSync(smallClip));
    server = createServer((req, res) => {
      if (req.url === "/clip.mp4") {
        res.writeHead(200, { "content-type": "video/mp4", "content-length": served.clip.byteLength });
        res.end(served.clip);
      } else if (req.url === "/huge.mp4") {
        // Says 2 GiB (over the stack's 1 GiB MAX_SOURCE_BYTES) and sends a little: refused on the header.
        res.writeHead(200, { "content-type": "video/mp4", "content-length": String(2 * 1024 * MIB) });
        res.write(new Uint8Array(1024));
      } else if (req.url === "/to-private") {
        res.writeHead(302, { location: "http://10.0.0.1/clip.mp4" });
        res.end();
      } else if (req.url === "/to-metadata") {
        res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" });
        res.end();
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  async function importFrom(client: Awaited<ReturnType<typeof signedUpClient>>, url: string) {
    const res = await call("POST", "/v1/videos", {
      token: client.accessToken(),
      body: { title: "imported", source: { url } },
    });
    expect(res.status, res.text).toBe(201);
    const { video, upload } = res.json as { video: { id: string; status: string }; upload: unknown };
    expect(upload).toBeNull();
    expect(video.status).toBe("queued");
    return video.id;
  }

  it("imports a video a node downloads into storage, then transcodes it to ready", async () => {
    const client = await signedUpClient(edge, "import");
    const id = await importFrom(client, `${origin}/clip.mp4`);
    // Its quota reservation until the size is known: the largest source (1 GiB here).
    const [reserved] = await db.select().from(videos).where(eq(videos.id, id));
    expect(reserved?.uploadBytes).toBe(1024 * MIB);
    expectError(
      await call("POST", `/v1/videos/${id}/uploaded`, { token: client.accessToken() }),
      409,
      "invalid_state",
    );
    const video = await waitForTerminal(client, id, { timeoutMs: 120_000 });
    expect(video.status, video.failureReason ?? "").toBe("ready");
    expect(await storage.headSize(sourceKey(id))).toBe(served.clip.byteLength);
    const [row] = await db.select().from(videos).where(eq(videos.id, id));
    expect(row).toMatchObject({ sourceUrl: `${origin}/clip.mp4`, sourceBytes: served.clip.byteLength });
    expect((await fetch(video.playback.hls ?? "")).status).toBe(200);
  }, 180_000);

  it.each([
    ["a 404", "/missing.mp4", /could not be imported: the URL answered 404 Not Found/],
    ["a file over the size limit", "/huge.mp4", /could not be imported: the file is .* larger than the/],
    ["a redirect to a private address", "/to-private", /could not be imported: .*private.*not allowed/],
    [
      "a redirect to the cloud metadata address",
      "/to-metadata",
      /could not be imported: .*metadata.*not allowed/,
    ],
  ])(
    "ends failed with the reason for %s, storing nothing",
    async (_, pathname, reason) => {
      const client = await signedUpClient(edge, "import-bad");
      const id = await importFrom(client, `${origin}${pathname}`);
      const video = await waitForTerminal(client, id, { timeoutMs: 60_000 });
      expect(video.status).toBe("failed");
      expect(video.failureReason).toMatch(reason);
      expect(await storage.headSize(sourceKey(id))).toBeNull();
      expect(await storage.listMultipartUploads(sourceKey(id))).toEqual([]);
    },
    90_000,
  );
});

/** Runs the Worker's scheduled handler (the Cron Trigger) as of `time`, through wrangler dev's trigger route. */
async function scheduled(time: number): Promise<{ outcome: string }> {
  const res = await fetch(
    `${edge}/cdn-cgi/local/scheduled?cron=${encodeURIComponent("*/30 * * * *")}&time=${time}&format=json`,
  );
  return (await res.json()) as { outcome: string };
}

async function uploadIdOf(id: string): Promise<string> {
  const [row] = await db.select({ uploadId: videos.uploadId }).from(videos).where(eq(videos.id, id));
  if (!row?.uploadId) throw new Error(`video ${id} has no multipart upload`);
  return row.uploadId;
}
