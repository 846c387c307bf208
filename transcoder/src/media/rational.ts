/** A frame rate as ffmpeg writes it (30000/1001), kept exact so keyframe maths doesn't drift. */
export interface Rational {
  num: number;
  den: number;
}

/** Parses "30000/1001" or "25"; null for "0/0", "N/A" and other non-rates. */
export function parseRational(text: string | undefined): Rational | null {
  if (!text) return null;
  const match = /^(\d+)(?:\/(\d+))?$/.exec(text.trim());
  if (!match) return null;
  const num = Number(match[1]);
  const den = match[2] === undefined ? 1 : Number(match[2]);
  // Safe integers only: a 400-digit numerator is Infinity, and reduce() would never end on it.
  if (!(Number.isSafeInteger(num) && Number.isSafeInteger(den) && num > 0 && den > 0)) return null;
  return reduce({ num, den });
}

/** Lowest terms, so equal rates compare and print the same. */
export function reduce(r: Rational): Rational {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(r.num, r.den);
  return { num: r.num / g, den: r.den / g };
}

/** As a plain number, for arithmetic and display only (keep the Rational for ffmpeg). */
export function toNumber(r: Rational): number {
  return r.num / r.den;
}

/** ffmpeg's spelling: "30" or "30000/1001". */
export function formatRational(r: Rational): string {
  return r.den === 1 ? String(r.num) : `${r.num}/${r.den}`;
}
