/** MongoDB (engagement store, when MONGODB_URL is set): connect and ping the database. */
import { errorText, fail, type Report, redactUrl, report, shortError } from "./report.ts";

export async function checkMongo(
  url: string | undefined,
  db: string,
  opts: { timeoutMs?: number } = {},
): Promise<Report> {
  const r = report("mongodb");
  if (!url) return r;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const { MongoClient } = await import("mongodb");
  const client = new MongoClient(url, { serverSelectionTimeoutMS: timeoutMs, connectTimeoutMS: timeoutMs });
  try {
    await client.db(db).command({ ping: 1 });
    r.ok.push(`ping answered at ${redactUrl(url)} (database ${db})`);
  } catch (err) {
    const text = errorText(err);
    if (/Authentication failed|auth/i.test(text))
      fail(
        r,
        `wrong user or password for ${redactUrl(url)}`,
        "copy the connection string again; the user needs readWrite on MONGODB_DB",
      );
    else
      fail(
        r,
        `no answer from ${redactUrl(url)} within ${timeoutMs / 1000} s (${shortError(text)})`,
        "check MONGODB_URL and the cluster's IP access list",
      );
  } finally {
    await client.close().catch(() => {});
  }
  return r;
}
