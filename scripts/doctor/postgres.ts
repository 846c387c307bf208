/** Postgres / Neon: connect over TCP (TLS when the URL asks) and compare applied migrations with edge/migrations. */
import { readFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { errorText, fail, type Report, redactUrl, report, shortError, withTimeout } from "./report.ts";

const JOURNAL = path.resolve(import.meta.dirname, "../../edge/migrations/meta/_journal.json");
const MIGRATE = "DATABASE_URL='…' npm run db:migrate";

export function expectedMigrations(journal = JOURNAL): string[] {
  const parsed = JSON.parse(readFileSync(journal, "utf8")) as { entries: Array<{ tag: string }> };
  return parsed.entries.map((e) => e.tag);
}

export function explainPostgresError(err: unknown, url: string, timeoutMs: number) {
  const code = (err as { code?: string }).code ?? "";
  const text = errorText(err);
  const where = redactUrl(url);
  if (code === "28P01" || /password authentication failed/i.test(text))
    return {
      message: `wrong password for ${where}`,
      fix: "copy the connection string again (Neon console › Connection details)",
    };
  if (code === "3D000")
    return {
      message: `the database in ${where} does not exist`,
      fix: "create it, or correct the database name at the end of DATABASE_URL",
    };
  if (code === "28000")
    return {
      message: `the server refused the role in ${where} (${shortError(text)})`,
      fix: "check the user name in DATABASE_URL",
    };
  if (/insecure|SSL.*required|requires? (SSL|TLS)|no pg_hba.conf entry.*no encryption/i.test(text))
    return {
      message: `${where} requires TLS`,
      fix: "add ?sslmode=require to DATABASE_URL (Neon always needs it)",
    };
  if (/does not support SSL/i.test(text))
    return {
      message: `${where} does not speak TLS`,
      fix: "remove sslmode from DATABASE_URL for this (local) server",
    };
  if (/ENOTFOUND|EAI_AGAIN/.test(text))
    return { message: `the host of ${where} does not resolve`, fix: "correct the host in DATABASE_URL" };
  if (/ECONNREFUSED/.test(text))
    return {
      message: `nothing listens at ${where} (connection refused)`,
      fix: "start Postgres, or correct the host and port in DATABASE_URL",
    };
  if (/timeout|no answer within|ETIMEDOUT/i.test(text))
    return {
      message: `no answer from ${where} within ${timeoutMs / 1000} s`,
      fix: "check the host and port and that this machine may reach it (firewall, IP allow-list)",
    };
  return { message: `${where}: ${shortError(text)}`, fix: "check DATABASE_URL" };
}

export async function checkPostgres(
  url: string | undefined,
  opts: { timeoutMs?: number } = {},
): Promise<Report> {
  const r = report("postgres");
  const timeoutMs = opts.timeoutMs ?? 5000;
  if (!url) return fail(r, "DATABASE_URL is not set", "set it to the Neon (or Postgres) connection string");
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
  });
  client.on("error", () => {});
  try {
    await withTimeout(client.connect(), timeoutMs + 500, "connect");
  } catch (err) {
    const { message, fix } = explainPostgresError(err, url, timeoutMs);
    client.end().catch(() => {});
    return fail(r, message, fix);
  }
  try {
    r.ok.push(`connected to ${redactUrl(url)}`);
    const expected = expectedMigrations();
    let applied = 0;
    try {
      const res = await client.query<{ n: number }>(
        "select count(*)::int as n from drizzle.__drizzle_migrations",
      );
      applied = res.rows[0]?.n ?? 0;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "42P01" && code !== "3F000") throw err;
    }
    if (applied < expected.length) {
      const missing = expected.slice(applied).join(", ");
      fail(
        r,
        applied === 0
          ? `no migrations applied (expected ${expected.length}: ${missing})`
          : `${applied} of ${expected.length} migrations applied; missing ${missing}`,
        `run ${MIGRATE}`,
      );
    } else if (applied > expected.length) {
      fail(
        r,
        `the database has ${applied} migrations, this checkout knows ${expected.length}`,
        "deploy the newer code, or point DATABASE_URL at the right database",
      );
    } else r.ok.push(`all ${expected.length} migrations applied`);
  } catch (err) {
    fail(r, `query failed: ${shortError(errorText(err))}`, "check that the role may read the drizzle schema");
  } finally {
    await client.end().catch(() => {});
  }
  return r;
}
