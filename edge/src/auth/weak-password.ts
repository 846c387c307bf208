import { COMMON_PASSWORDS } from "./common-passwords.ts";

/**
 * Why a new password is too easy to guess for this email, or null if it is fine. Length (10-256) is the
 * shared schema's rule; this adds what only the server knows: the address itself (or its name part,
 * alone or with digits and symbols added) and the most common passwords. Case never matters.
 */
export function passwordWeakness(password: string, email: string): string | null {
  const candidate = password.trim().toLowerCase();
  const address = email.trim().toLowerCase();
  const name = address.slice(0, Math.max(0, address.lastIndexOf("@")));
  if (address !== "" && candidate.includes(address)) {
    return "password must not contain your email address";
  }
  if (name !== "" && (candidate === name || isNamePlusFiller(candidate, name))) {
    return "password must not be the part of your email address before the @ (with or without digits added)";
  }
  if (COMMON_PASSWORDS.has(candidate)) {
    return "password is one of the most commonly used passwords; choose a less predictable one";
  }
  return null;
}

/** "alice.smith" + "2024!" style: the name with only digits and symbols before or after it. */
function isNamePlusFiller(candidate: string, name: string): boolean {
  if (name.length < 4) return false;
  const at = candidate.indexOf(name);
  if (at < 0) return false;
  const filler = candidate.slice(0, at) + candidate.slice(at + name.length);
  return /^[^\p{L}]*$/u.test(filler);
}
