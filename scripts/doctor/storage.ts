/**
 * S3-compatible storage as the app uses it: a presigned PUT, a presigned GET and a DELETE of a small object
 * under doctor/, then, for each FRONTEND_ORIGIN, the browser's CORS preflight for a PUT to the public
 * endpoint and whether the PUT's ETag is exposed.
 */
import { randomUUID } from "node:crypto";
import { AwsClient } from "aws4fetch";
import { errorText, fail, type Report, report, shortError, warn } from "./report.ts";

export interface StorageSettings {
  endpoint: string;
  /** Where browsers upload (S3_PUBLIC_ENDPOINT); defaults to endpoint. */
  publicEndpoint?: string | undefined;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

const CORS_FIX =
  "add a CORS rule to the bucket allowing PUT (and GET, HEAD) from that origin, any header, exposing ETag: docs/deployment.md › Storage shows the B2 and S3 commands";

/** The S3 error code of an XML error body, if any. */
const s3Code = (xml: string) => /<Code>([^<]+)<\/Code>/.exec(xml)?.[1] ?? "";

export function explainS3Status(status: number, body: string, op: string, s: StorageSettings) {
  const code = s3Code(body);
  switch (code) {
    case "SignatureDoesNotMatch":
      return {
        message: `${op}: signature rejected (SignatureDoesNotMatch)`,
        fix: "S3_SECRET_ACCESS_KEY is wrong: copy the application key's secret again",
      };
    case "InvalidAccessKeyId":
      return {
        message: `${op}: unknown access key (InvalidAccessKeyId)`,
        fix: "S3_ACCESS_KEY_ID is wrong or the key was deleted: B2 keyID / the key's access key id",
      };
    case "NoSuchBucket":
      return {
        message: `${op}: bucket ${s.bucket} does not exist at ${s.endpoint}`,
        fix: "create it, or correct S3_BUCKET / S3_ENDPOINT",
      };
    case "AccessDenied":
      return {
        message: `${op}: the key may not do this on ${s.bucket} (AccessDenied)`,
        fix: "give the key read and write on this bucket (B2 capabilities listFiles,readFiles,writeFiles,deleteFiles restricted to the bucket)",
      };
    case "AuthorizationHeaderMalformed":
    case "InvalidRegion":
      return {
        message: `${op}: wrong region (${code})`,
        fix: "set S3_REGION to the endpoint's region (B2: the part after s3. in the endpoint, e.g. us-west-004)",
      };
    case "RequestTimeTooSkewed":
      return {
        message: `${op}: this machine's clock is off (RequestTimeTooSkewed)`,
        fix: "synchronise the clock (NTP)",
      };
    default:
      return {
        message: `${op}: HTTP ${status}${code ? ` ${code}` : ""}`,
        fix: "check S3_ENDPOINT, S3_BUCKET and the key's permissions",
      };
  }
}

function explainFetchError(err: unknown, url: string, timeoutMs: number) {
  const text = errorText(err);
  const origin = new URL(url).origin;
  if (/TimeoutError|aborted due to timeout|timeout/i.test(text))
    return {
      message: `no answer from ${origin} within ${timeoutMs / 1000} s`,
      fix: "check S3_ENDPOINT and that this machine may reach it",
    };
  if (/ENOTFOUND|EAI_AGAIN/.test(text))
    return { message: `${origin} does not resolve`, fix: "correct the host in S3_ENDPOINT" };
  if (/ECONNREFUSED/.test(text))
    return {
      message: `nothing listens at ${origin}`,
      fix: "start the storage server or correct S3_ENDPOINT",
    };
  return { message: `${origin}: ${shortError(text)}`, fix: "check S3_ENDPOINT" };
}

export async function checkStorage(
  s: StorageSettings,
  opts: { origins?: string[]; timeoutMs?: number } = {},
): Promise<Report> {
  const r = report("storage");
  const timeoutMs = opts.timeoutMs ?? 5000;
  const aws = new AwsClient({
    accessKeyId: s.accessKeyId,
    secretAccessKey: s.secretAccessKey,
    region: s.region,
    service: "s3",
    retries: 0,
  });
  const objectUrl = (base: string, key: string) =>
    `${base.replace(/\/+$/, "")}/${encodeURIComponent(s.bucket)}/${key.split("/").map(encodeURIComponent).join("/")}`;
  const presign = async (method: string, url: string) => {
    const u = new URL(url);
    u.searchParams.set("X-Amz-Expires", "300");
    return (await aws.sign(u.toString(), { method, aws: { signQuery: true } })).url;
  };
  const call = async (url: string, init: RequestInit) =>
    fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });

  const key = `doctor/${randomUUID()}.txt`;
  const body = `streamlet doctor ${new Date().toISOString()}`;
  let url = objectUrl(s.endpoint, key);
  const cleanup: string[] = [];
  try {
    const put = await call(await presign("PUT", url), { method: "PUT", body });
    const putText = await put.text();
    if (!put.ok) {
      const { message, fix } = explainS3Status(put.status, putText, "presigned PUT", s);
      return fail(r, message, fix);
    }
    cleanup.push(key);
    const get = await call(await presign("GET", url), { method: "GET" });
    const got = await get.text();
    if (!get.ok) {
      const { message, fix } = explainS3Status(get.status, got, "presigned GET", s);
      fail(r, message, fix);
    } else if (got !== body) {
      fail(
        r,
        "presigned GET returned other bytes than were PUT",
        "check that S3_ENDPOINT is an S3-compatible server and not a proxy that rewrites bodies",
      );
    } else r.ok.push(`presigned PUT and GET round-trip in ${s.bucket} at ${new URL(s.endpoint).origin}`);
  } catch (err) {
    const { message, fix } = explainFetchError(err, url, timeoutMs);
    return fail(r, message, fix);
  } finally {
    for (const k of cleanup) {
      try {
        const del = await aws.fetch(objectUrl(s.endpoint, k), {
          method: "DELETE",
          signal: AbortSignal.timeout(timeoutMs),
        });
        const text = await del.text();
        if (!del.ok && del.status !== 404) {
          const { message, fix } = explainS3Status(del.status, text, "DELETE", s);
          fail(r, message, fix);
        } else if (k === key) r.ok.push("DELETE works (the transcoder deletes outputs of deleted videos)");
      } catch (err) {
        const { message, fix } = explainFetchError(err, objectUrl(s.endpoint, k), timeoutMs);
        fail(r, `DELETE: ${message}`, fix);
      }
    }
  }

  // Browser uploads: the preflight and the PUT's response headers, against the endpoint browsers use.
  const publicBase = s.publicEndpoint || s.endpoint;
  for (const origin of opts.origins ?? []) {
    const corsKey = `doctor/${randomUUID()}.txt`;
    url = objectUrl(publicBase, corsKey);
    try {
      const signed = await presign("PUT", url);
      const pre = await call(signed, {
        method: "OPTIONS",
        headers: {
          Origin: origin,
          "Access-Control-Request-Method": "PUT",
          "Access-Control-Request-Headers": "content-type",
        },
      });
      await pre.body?.cancel();
      const allowOrigin = pre.headers.get("access-control-allow-origin");
      const allowMethods = pre.headers.get("access-control-allow-methods") ?? "";
      if (!pre.ok || (allowOrigin !== "*" && allowOrigin !== origin)) {
        fail(
          r,
          `CORS: a browser at ${origin} may not PUT to ${new URL(publicBase).origin} (preflight HTTP ${pre.status}, Access-Control-Allow-Origin ${allowOrigin ?? "missing"})`,
          CORS_FIX,
        );
        continue;
      }
      if (allowMethods && !/\bPUT\b/i.test(allowMethods)) {
        fail(r, `CORS: the preflight from ${origin} does not allow PUT (allows ${allowMethods})`, CORS_FIX);
        continue;
      }
      const put = await call(signed, {
        method: "PUT",
        body: "cors",
        headers: { Origin: origin, "content-type": "text/plain" },
      });
      await put.body?.cancel();
      if (put.ok) {
        const del = await aws.fetch(objectUrl(s.endpoint, corsKey), {
          method: "DELETE",
          signal: AbortSignal.timeout(timeoutMs),
        });
        await del.body?.cancel();
      }
      const expose = put.headers.get("access-control-expose-headers") ?? "";
      if (!put.ok)
        fail(
          r,
          `CORS: the PUT from ${origin} failed with HTTP ${put.status}`,
          "check S3_PUBLIC_ENDPOINT signs and serves like S3_ENDPOINT",
        );
      else if (!/\betag\b/i.test(expose))
        warn(
          r,
          `CORS: uploads from ${origin} work but ETag is not exposed to the browser`,
          "add ETag to the rule's exposed headers (needed for multipart uploads)",
        );
      else r.ok.push(`CORS: browsers at ${origin} may PUT, ETag exposed`);
    } catch (err) {
      const { message, fix } = explainFetchError(err, url, timeoutMs);
      fail(r, `CORS (public endpoint): ${message}`, fix.replace("S3_ENDPOINT", "S3_PUBLIC_ENDPOINT"));
    }
  }
  return r;
}
