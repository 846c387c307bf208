import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseListObjects } from "@streamlet/shared";
import type { StorageConfig } from "../../src/storage.ts";

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
  on(
    event: "event",
    listener: (e: { Records: { eventName: string; s3: { object: { key: string } } }[] }) => void,
  ): void;
}
type S3rverClass = new (options: Record<string, unknown>) => S3rverInstance;

export interface TestS3 {
  config: StorageConfig;
  /** Keys in the order their PUTs completed. */
  puts: string[];
  /** Every object-created event in order: how each object was written (Put, CompleteMultipartUpload…). */
  created: { eventName: string; key: string }[];
  get(key: string): Promise<Response>;
  /** Keys under a prefix, as ListObjectsV2 answers them now. */
  list(prefix: string): Promise<string[]>;
  close(): Promise<void>;
}

/** An in-process s3rver with one bucket in a temp folder (it does not check signatures). */
export async function startS3(bucket = "streamlet-test"): Promise<TestS3> {
  const S3rver = createRequire(import.meta.url)("s3rver") as S3rverClass;
  const directory = await mkdtemp(join(tmpdir(), "streamlet-s3-"));
  const server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = await server.run();
  const puts: string[] = [];
  const created: { eventName: string; key: string }[] = [];
  server.on("event", (e) => {
    for (const r of e.Records) {
      if (!r.eventName.startsWith("ObjectCreated")) continue;
      const key = decodeURIComponent(r.s3.object.key);
      puts.push(key);
      created.push({ eventName: r.eventName, key });
    }
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    config: { endpoint, bucket, region: "us-east-1", accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    puts,
    created,
    get: (key) => fetch(`${endpoint}/${bucket}/${key}`),
    async list(prefix) {
      const res = await fetch(`${endpoint}/${bucket}?list-type=2&prefix=${encodeURIComponent(prefix)}`);
      return parseListObjects(await res.text()).keys;
    },
    async close() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
