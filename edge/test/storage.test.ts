import { parseListObjects } from "@streamlet/shared";
import { AwsClient } from "aws4fetch";
import { describe, expect, it } from "vitest";
import { Storage, UPLOAD_URL_SECONDS } from "../src/storage.ts";

// The presigned URLs are checked here against SigV4 itself (AWS's documented example, then an independent
// computation); the local S3 server (scripts/stack/s3-server.ts) verifies them too, in the integration tests.

const encoder = new TextEncoder();
const hex = (bytes: ArrayBuffer) =>
  Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
const sha256Hex = async (text: string) => hex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
async function hmac(key: ArrayBuffer | Uint8Array, data: string) {
  const cryptoKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(data));
}
const rfc3986 = (text: string) =>
  encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Independent SigV4 query-signature computation (AWS docs, "Authenticating Requests: Using Query Parameters"). */
async function expectedSignature(
  method: string,
  url: URL,
  secret: string,
  region: string,
  extraHeaders: Record<string, string> = {},
) {
  const params = [...url.searchParams].filter(([k]) => k !== "X-Amz-Signature");
  const query = params
    .map(([k, v]) => [rfc3986(k), rfc3986(v)])
    .sort(([a = ""], [b = ""]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const headers = Object.entries({ ...extraHeaders, host: url.host }).sort(([a], [b]) => (a < b ? -1 : 1));
  const canonical = [
    method,
    url.pathname,
    query,
    ...headers.map(([name, value]) => `${name}:${value}`),
    "",
    headers.map(([name]) => name).join(";"),
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const datetime = url.searchParams.get("X-Amz-Date") ?? "";
  const scope = `${datetime.slice(0, 8)}/${region}/s3/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", datetime, scope, await sha256Hex(canonical)].join("\n");
  let key: ArrayBuffer = await hmac(encoder.encode(`AWS4${secret}`), datetime.slice(0, 8));
  for (const part of [region, "s3", "aws4_request"]) key = await hmac(key, part);
  return hex(await hmac(key, toSign));
}

describe("presigned URLs", () => {
  it("aws4fetch reproduces AWS's documented presigned-URL example", async () => {
    const aws = new AwsClient({
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
      region: "us-east-1",
      service: "s3",
    });
    const signed = await aws.sign("https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Expires=86400", {
      method: "GET",
      aws: { signQuery: true, datetime: "20130524T000000Z" },
    });
    const documented = "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";
    const url = new URL(signed.url);
    expect(url.searchParams.get("X-Amz-Signature")).toBe(documented);
    // ...and so does the independent computation the next test relies on.
    expect(await expectedSignature("GET", url, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1")).toBe(
      documented,
    );
  });

  const storage = new Storage({
    endpoint: "http://storage.internal:9000",
    publicEndpoint: "https://uploads.example.com",
    bucket: "streamlet",
    region: "us-west-004",
    accessKeyId: "KEYID",
    secretAccessKey: "s3cr3t/key+value",
  });
  const now = new Date("2026-04-20T12:00:00.000Z");

  it("presignPut signs a path-style PUT for the public endpoint, valid for an hour, host header only", async () => {
    const ticket = await storage.presignPut("sources/0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d", { now });
    const url = new URL(ticket.url);

    expect(`${url.origin}${url.pathname}`).toBe(
      "https://uploads.example.com/streamlet/sources/0b5e7d3c-8f5a-4b7e-9c1d-2e3f4a5b6c7d",
    );
    expect(url.searchParams.get("X-Amz-Expires")).toBe(String(UPLOAD_URL_SECONDS));
    expect(url.searchParams.get("X-Amz-Date")).toBe("20260420T120000Z");
    expect(url.searchParams.get("X-Amz-Credential")).toBe("KEYID/20260420/us-west-004/s3/aws4_request");
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("host");
    expect(url.searchParams.get("X-Amz-Signature")).toBe(
      await expectedSignature("PUT", url, "s3cr3t/key+value", "us-west-004"),
    );
    expect(ticket).toMatchObject({ method: "PUT", headers: {}, expiresAt: "2026-04-20T13:00:00.000Z" });
  });

  it("presignPut with a size signs Content-Length too: another size fails the signature", async () => {
    const ticket = await storage.presignPut("sources/x", { contentLength: 1234, now });
    const url = new URL(ticket.url);
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("content-length;host");
    const signature = url.searchParams.get("X-Amz-Signature");
    expect(signature).toBe(
      await expectedSignature("PUT", url, "s3cr3t/key+value", "us-west-004", { "content-length": "1234" }),
    );
    expect(signature).not.toBe(
      await expectedSignature("PUT", url, "s3cr3t/key+value", "us-west-004", { "content-length": "1235" }),
    );
  });

  it("presignUploadPart signs the part number, the upload id and the part's size", async () => {
    const url = new URL(await storage.presignUploadPart("sources/x", "up/load=id", 7, 5_242_880, now));
    expect(`${url.origin}${url.pathname}`).toBe("https://uploads.example.com/streamlet/sources/x");
    expect(url.searchParams.get("partNumber")).toBe("7");
    expect(url.searchParams.get("uploadId")).toBe("up/load=id");
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("content-length;host");
    expect(url.searchParams.get("X-Amz-Signature")).toBe(
      await expectedSignature("PUT", url, "s3cr3t/key+value", "us-west-004", { "content-length": "5242880" }),
    );
  });
});

describe("parseListObjects", () => {
  it.each([
    ["an empty page", "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>", [], null],
    [
      "keys with entities, last page",
      "<ListBucketResult><Contents><Key>videos/a/master.m3u8</Key></Contents><Contents><Key>a&amp;b</Key></Contents><IsTruncated>false</IsTruncated></ListBucketResult>",
      ["videos/a/master.m3u8", "a&b"],
      null,
    ],
    [
      "a truncated page",
      "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>tok/+=</NextContinuationToken><Contents><Key>k</Key></Contents></ListBucketResult>",
      ["k"],
      "tok/+=",
    ],
  ])("reads %s", (_, xml, keys, next) => {
    expect(parseListObjects(xml)).toEqual({ keys, next });
  });
});
