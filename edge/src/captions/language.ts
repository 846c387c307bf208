import { CaptionLanguage } from "@streamlet/shared";

/**
 * A caption language in its one canonical form (language lower case, script Title case, region upper
 * case, variants lower case: "pt-br" → "pt-BR", "ZH-hant-tw" → "zh-Hant-TW"), or null for anything
 * that is not a BCP 47 tag by shared's CaptionLanguage. Storage keys and URLs use this form, so two
 * spellings of one language are one track.
 */
export function canonicalLanguage(raw: string): string | null {
  if (!CaptionLanguage.safeParse(raw).success) return null;
  const [language = "", ...subtags] = raw.split("-");
  const rest = subtags.map((subtag, index) => {
    if (/^[A-Za-z]{4}$/.test(subtag) && index === 0) {
      return subtag[0]?.toUpperCase() + subtag.slice(1).toLowerCase();
    }
    if (/^(?:[A-Za-z]{2}|\d{3})$/.test(subtag)) return subtag.toUpperCase();
    return subtag.toLowerCase();
  });
  return [language.toLowerCase(), ...rest].join("-");
}

/** Longest label (shared's Caption.label). */
export const MAX_LABEL_LENGTH = 64;

/**
 * The label a track gets when its owner names none: the language's English name ("en" → "English",
 * "pt-BR" → "Brazilian Portuguese") where the runtime knows it, else the tag itself.
 */
export function defaultLabel(language: string): string {
  try {
    const name = new Intl.DisplayNames(["en"], { type: "language", fallback: "none" }).of(language);
    if (name && name !== language) return name.slice(0, MAX_LABEL_LENGTH);
  } catch {
    // No ICU data for it (or no Intl.DisplayNames): the tag will do.
  }
  return language;
}

/**
 * Why a label cannot be used, or null: players show it and it is written into quoted HLS attributes,
 * so no double quote and no control character (newlines included).
 */
export function labelProblem(label: string): string | null {
  if (label.trim() === "") return "must not be empty";
  if (label.length > MAX_LABEL_LENGTH) return `must be at most ${MAX_LABEL_LENGTH} characters`;
  if (label.includes('"')) return "must not contain a double quote";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
  if (/[\u0000-\u001f\u007f\u2028\u2029]/.test(label))
    return "must not contain line breaks or control characters";
  return null;
}
