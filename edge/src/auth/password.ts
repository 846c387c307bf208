import { constantTimeEqual, fromBase64, randomBytes, toBase64 } from "../lib/bytes.ts";

/** Workers' WebCrypto refuses PBKDF2 above 100,000 iterations, so that is both the target and the cap. */
export const PBKDF2_ITERATIONS = 100_000;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
const SCHEME = "pbkdf2-sha256";

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, [
    "deriveBits",
  ]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    key,
    KEY_BYTES * 8,
  );
  return new Uint8Array(bits);
}

/**
 * Hashes a password into a self-describing string (`pbkdf2-sha256$<iterations>$<salt>$<hash>`),
 * so the parameters can be raised later without a migration.
 */
export async function hashPassword(password: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, iterations);
  return `${SCHEME}$${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

/** Checks a password against a stored hash; false (never a throw) for a malformed or tampered string. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 4 || parts[0] !== SCHEME) return false;
  const [, iterationsText = "", saltText = "", hashText = ""] = parts;
  if (!/^[1-9][0-9]{0,6}$/.test(iterationsText)) return false;
  const iterations = Number(iterationsText);
  if (iterations > PBKDF2_ITERATIONS) return false;
  const salt = fromBase64(saltText);
  const expected = fromBase64(hashText);
  if (!salt || !expected || salt.length === 0 || expected.length !== KEY_BYTES) return false;
  const actual = await derive(password, salt, iterations);
  return constantTimeEqual(actual, expected);
}

// Random bytes, not the hash of any password: checking against it costs a full PBKDF2 and never matches.
const DUMMY_HASH = `${SCHEME}$${PBKDF2_ITERATIONS}$2RH8yLMICJjTg743k+3TcA==$jHlNIKQT+bTmwE1lWjDoD8dlxDfppH6BZPWltq1r8bg=`;

/**
 * Burns the same PBKDF2 work as a real check, for logins with an unknown email, so response time
 * does not tell an attacker which emails have accounts.
 */
export async function verifyAgainstDummy(password: string): Promise<false> {
  await verifyPassword(password, DUMMY_HASH);
  return false;
}
