import { describe, expect, it } from "vitest";
import { COMMON_PASSWORDS } from "../src/auth/common-passwords.ts";
import { passwordWeakness } from "../src/auth/weak-password.ts";

const email = "alice.smith@example.com";

describe("passwordWeakness", () => {
  it("accepts a password unrelated to the email and not on the list", () => {
    expect(passwordWeakness("correct horse battery staple", email)).toBeNull();
    expect(passwordWeakness("a long enough password", email)).toBeNull();
  });

  it.each([email, "Alice.Smith@Example.com", `${email}!`, `my ${email} pw`])(
    "refuses %j: it contains the email address",
    (password) => {
      expect(passwordWeakness(password, email)).toBe("password must not contain your email address");
    },
  );

  it.each(["alice.smith", "ALICE.SMITH", "alice.smith2024", "alice.smith!!", "1alice.smith1"])(
    "refuses %j: it is the name part of the email",
    (password) => {
      expect(passwordWeakness(password, email)).toMatch(/^password must not be the part of your email/);
    },
  );

  it("allows the name part inside a longer phrase with other words", () => {
    expect(passwordWeakness("alice.smith loves hiking", email)).toBeNull();
  });

  it("ignores a name part too short to matter", () => {
    expect(passwordWeakness("bob1234567", "bob@example.com")).toBeNull();
  });

  it.each(["1234567890", "qwertyuiop", "Password123", "PASSWORD1234", " iloveyou123 "])(
    "refuses %j: it is one of the most common passwords",
    (password) => {
      expect(passwordWeakness(password, email)).toMatch(/^password is one of the most commonly used/);
    },
  );

  it("ships about a hundred entries, all lower-case and long enough to pass the length rule", () => {
    expect(COMMON_PASSWORDS.size).toBeGreaterThanOrEqual(100);
    for (const entry of COMMON_PASSWORDS) {
      expect(entry).toBe(entry.toLowerCase());
      expect(entry.length).toBeGreaterThanOrEqual(10);
    }
  });
});
