/** What every doctor check returns: lines that passed, and problems (each with its fix). */
export interface Problem {
  /** "fail" makes `npm run doctor` exit 1; "warn" is printed only. */
  level: "fail" | "warn";
  message: string;
  fix: string;
}

export interface Report {
  check: string;
  ok: string[];
  problems: Problem[];
}

export const report = (check: string): Report => ({ check, ok: [], problems: [] });

export const fail = (r: Report, message: string, fix: string) => {
  r.problems.push({ level: "fail", message, fix });
  return r;
};

export const warn = (r: Report, message: string, fix: string) => {
  r.problems.push({ level: "warn", message, fix });
  return r;
};

/** One line per passed item and per problem (with its fix). */
export function formatReports(reports: Report[]): string[] {
  const lines: string[] = [];
  for (const r of reports) {
    for (const line of r.ok) lines.push(`ok    ${r.check}: ${line}`);
    for (const p of r.problems)
      lines.push(`${p.level === "fail" ? "FAIL" : "warn"}  ${r.check}: ${p.message} -> fix: ${p.fix}`);
  }
  return lines;
}

export const hasFailures = (reports: Report[]) =>
  reports.some((r) => r.problems.some((p) => p.level === "fail"));

/** A URL with its password (and query string) removed, fit for printing. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = "***";
    url.search = "";
    return url.toString();
  } catch {
    return "(not a URL)";
  }
}

/** Rejects with a TimeoutError-like message when `promise` takes longer than `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DoctorTimeout(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class DoctorTimeout extends Error {
  override name = "DoctorTimeout";
}

/** The error's message plus its code and cause, for classification. */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts = [err.message];
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string") parts.push(code);
  if (err.cause) parts.push(errorText(err.cause));
  if (err instanceof AggregateError) for (const e of err.errors) parts.push(errorText(e));
  return parts.join(" | ");
}

/** The informative part of errorText: without undici's bare "fetch failed" wrapper. */
export function shortError(text: string): string {
  const parts = text.split(" | ").filter((part) => part && part !== "fetch failed");
  return parts.slice(0, 2).join(": ") || text;
}
