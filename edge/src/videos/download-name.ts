import { DOWNLOAD_FILE } from "@streamlet/shared";

/** Longest file name offered for a download, in characters before ".mp4" (file systems allow 255 bytes). */
const MAX_NAME_CHARS = 120;
const EXTENSION = DOWNLOAD_FILE.slice(DOWNLOAD_FILE.lastIndexOf("."));
const FALLBACK = "video";

// Controls, invisible formatting (a right-to-left override can disguise an extension) and the characters
// Windows, macOS or Linux refuse in a file name.
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}/\\:*?"<>|]+/gu;
// Names Windows reserves whatever the extension.
const RESERVED = /^(?:con|prn|aux|nul|com\d|lpt\d)$/i;

/**
 * The name a video's MP4 is saved under, from its title: unsafe characters become spaces, whitespace is
 * collapsed, leading and trailing dots and spaces go, the length is capped, ".mp4" is appended ("video.mp4"
 * for a title with nothing left). Unicode stays (Content-Disposition's filename* carries it).
 */
export function downloadFileName(title: string): string {
  const cleaned = title.normalize("NFC").replace(UNSAFE, " ").replace(/\s+/g, " ");
  let base = Array.from(cleaned.replace(/^[\s.]+|[\s.]+$/g, ""))
    .slice(0, MAX_NAME_CHARS)
    .join("")
    .replace(/[\s.]+$/, "");
  if (RESERVED.test(base)) base = `_${base}`;
  return `${base || FALLBACK}${EXTENSION}`;
}

/**
 * The plain-ASCII form of a file name for clients that ignore filename*: accents dropped, anything else
 * outside printable ASCII (and %, which some browsers decode, and the quote) as "_"; "video" when no
 * letter or digit is left of the name.
 */
export function asciiFileName(fileName: string): string {
  const dot = fileName.lastIndexOf(".");
  const base = dot > 0 ? fileName.slice(0, dot) : fileName;
  const extension = dot > 0 ? fileName.slice(dot) : "";
  const ascii = base
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .replace(/[^\x20-\x7e]+|[%"\\]/g, "_")
    .trim();
  return `${/[A-Za-z0-9]/.test(ascii) ? ascii : FALLBACK}${asciiOnly(extension)}`;
}

const asciiOnly = (text: string) => text.replace(/[^\x21-\x7e]|[%"\\]/g, "_");

/** RFC 8187 value-chars: percent-encoded UTF-8, with the characters encodeURIComponent leaves alone but the RFC does not. */
function extValue(text: string): string {
  return encodeURIComponent(text).replace(
    /['()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * The Content-Disposition of a download (RFC 6266): an attachment named `fileName`, as quoted ASCII for
 * old clients and as UTF-8 in filename* for everyone else.
 */
export function attachmentDisposition(fileName: string): string {
  return `attachment; filename="${asciiFileName(fileName)}"; filename*=UTF-8''${extValue(fileName)}`;
}
