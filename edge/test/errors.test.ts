import { DrizzleQueryError } from "drizzle-orm/errors";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../src/app.ts";
import { loggable } from "../src/errors.ts";
import { testEnv } from "./helpers.ts";

const email = "secret.person@example.com";
const hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("loggable", () => {
  it("keeps a failed query's SQL and the driver's message and code, and drops its parameters and detail", () => {
    const cause = Object.assign(
      new Error('duplicate key value violates unique constraint "users_email_unique"'),
      {
        code: "23505",
        detail: `Key (email)=(${email}) already exists.`,
      },
    );
    const error = new DrizzleQueryError(
      'insert into "users" ("email", "password_hash") values ($1, $2)',
      [email, hash],
      cause,
    );
    expect(error.message).toContain(email);
    const logged = loggable(error) as Error;
    const text = `${logged.message}\n${logged.stack}\n${JSON.stringify(logged)}`;
    expect(text).toContain('insert into "users"');
    expect(text).toContain("23505");
    expect(text).toContain("users_email_unique");
    expect(text).not.toContain(email);
    expect(text).not.toContain(hash);
    expect(text).not.toContain("params");
    expect(logged).not.toHaveProperty("params");
    expect(logged).not.toHaveProperty("cause");
  });

  it("returns other errors as they are", () => {
    const error = new Error("x");
    expect(loggable(error)).toBe(error);
    expect(loggable("text")).toBe("text");
  });
});

describe("the app's error log", () => {
  it("logs a failed sign-in query without the email it was bound to", async () => {
    const lines: string[] = [];
    const record = (...args: unknown[]) => {
      lines.push(
        args.map((arg) => (arg instanceof Error ? `${arg.message}\n${arg.stack}` : String(arg))).join(" "),
      );
    };
    vi.spyOn(console, "error").mockImplementation(record);
    vi.spyOn(console, "warn").mockImplementation(record);
    const res = await createApp().request(
      "/v1/auth/login",
      {
        method: "POST",
        body: JSON.stringify({ email, password: "correct horse battery" }),
        headers: { "content-type": "application/json" },
      },
      testEnv,
    );
    expect(res.status).toBe(500);
    expect(lines.join("\n")).toContain("Failed query");
    expect(lines.join("\n")).not.toContain(email);
  });
});
