import { describe, expect, it, vi } from "vitest";
import { hashPassword, PBKDF2_ITERATIONS, verifyAgainstDummy, verifyPassword } from "../src/auth/password.ts";

describe("password hashing", () => {
  it("round-trips and uses the self-describing format", async () => {
    const stored = await hashPassword("correct horse battery staple");
    expect(stored).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    expect(await verifyPassword("correct horse battery staple", stored)).toBe(true);
  });

  it("rejects a wrong password", async () => {
    const stored = await hashPassword("correct horse battery staple");
    expect(await verifyPassword("correct horse battery stapler", stored)).toBe(false);
    expect(await verifyPassword("", stored)).toBe(false);
  });

  it("salts every hash differently", async () => {
    const [a, b] = await Promise.all([hashPassword("same password"), hashPassword("same password")]);
    expect(a).not.toBe(b);
    expect(a.split("$")[2]).not.toBe(b.split("$")[2]);
  });

  it("verifies hashes made with fewer iterations (parameters live in the string)", async () => {
    const stored = await hashPassword("legacy password", 1000);
    expect(stored.startsWith("pbkdf2-sha256$1000$")).toBe(true);
    expect(await verifyPassword("legacy password", stored)).toBe(true);
  });

  it.each([
    ["empty", () => ""],
    ["wrong scheme", (s: string) => s.replace("pbkdf2-sha256", "pbkdf2-sha1")],
    ["iterations changed", (s: string) => s.replace(`$${PBKDF2_ITERATIONS}$`, "$99999$")],
    ["iterations above the Workers cap", (s: string) => s.replace(`$${PBKDF2_ITERATIONS}$`, "$200000$")],
    ["iterations not a number", (s: string) => s.replace(`$${PBKDF2_ITERATIONS}$`, "$1e5$")],
    ["salt not base64", (s: string) => s.replace(/\$[^$]+\$([^$]+)$/, "$!!!!$$$1")],
    ["hash truncated", (s: string) => s.slice(0, -8)],
    // The hash's first base64 character: all six of its bits are significant (the last one's may be padding).
    [
      "hash flipped",
      (s: string) => s.replace(/\$(.)([^$]*)$/, (_, c, rest) => `$${c === "A" ? "B" : "A"}${rest}`),
    ],
    ["extra field", (s: string) => `${s}$extra`],
    ["missing field", (s: string) => s.split("$").slice(0, 3).join("$")],
  ])("rejects a tampered hash string (%s) without throwing", async (_, tamper) => {
    const stored = await hashPassword("correct horse battery staple");
    const tampered = tamper(stored);
    expect(tampered).not.toBe(stored);
    await expect(verifyPassword("correct horse battery staple", tampered)).resolves.toBe(false);
  });

  it("does the same PBKDF2 work for unknown accounts and always fails", async () => {
    const derive = vi.spyOn(crypto.subtle, "deriveBits");
    try {
      await expect(verifyAgainstDummy("anything at all")).resolves.toBe(false);
      expect(derive).toHaveBeenCalledTimes(1);
      expect(derive.mock.calls[0]?.[0]).toMatchObject({ name: "PBKDF2", iterations: PBKDF2_ITERATIONS });
    } finally {
      derive.mockRestore();
    }
  });
});
