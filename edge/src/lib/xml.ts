import { XMLParser } from "fast-xml-parser";

/** Elements S3 repeats (a list with one entry must still be a list). */
const LISTS = new Set(["Part", "Upload", "Contents", "CommonPrefixes"]);

const parser = new XMLParser({
  // Every value stays the text S3 sent: an upload id or ETag of digits must not become a number.
  parseTagValue: false,
  ignoreAttributes: true,
  isArray: (name) => LISTS.has(name),
});

/** An S3 response body as plain objects (text values; Part, Upload, Contents always arrays). */
export function parseXml(text: string): Record<string, unknown> {
  return parser.parse(text) as Record<string, unknown>;
}
