/**
 * `npm run check:compose-pins [files…]` (default: docker-compose.yml): fails when a service pulls an image
 * that is not pinned to a version. A pinned image names a version tag (`postgres:16.4-alpine`,
 * `redis:7-alpine`, `rustfs/rustfs:1.0.0`) or a digest (`…@sha256:…`). Refused: no tag (Docker means
 * `:latest`), `:latest`, floating channel tags (`:edge`, `:main`, `:nightly`, `:stable`, …) and any tag
 * without a digit in it (`:alpine`, `:bookworm`), which follows whatever the publisher pushes next.
 * Services built here (`build:`) are skipped: their `image:` only names the local build.
 *
 * Reads the YAML itself (anchors and `<<` merge keys resolved), so it needs neither Docker nor docker-compose.
 * A tag taken from a variable is judged by its default (`${REDIS_TAG:-7.4.2}`); one without a default is refused.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export interface UnpinnedImage {
  service: string;
  image: string;
  reason: string;
}

/** Tags that move by design: a new push replaces what they point at. */
const FLOATING_TAGS = new Set([
  "latest",
  "edge",
  "main",
  "master",
  "trunk",
  "head",
  "nightly",
  "dev",
  "develop",
  "development",
  "next",
  "canary",
  "beta",
  "alpha",
  "rc",
  "stable",
  "current",
  "lts",
  "rolling",
  "testing",
  "unstable",
]);

/** `${VAR:-default}` / `${VAR-default}` become their default; `null` when a variable has no default. */
function interpolateDefaults(value: string): string | null {
  let unresolved = false;
  const out = value.replace(/\$\{([^}]*)\}/g, (_, body: string) => {
    const m = /^[A-Za-z_][A-Za-z0-9_]*:?-(.*)$/.exec(body);
    if (m) return m[1] ?? "";
    unresolved = true;
    return "";
  });
  return unresolved ? null : out.replaceAll("$$", "$");
}

/** Why `image` is not pinned, or `null` when it is. */
export function unpinnedReason(image: string): string | null {
  const ref = interpolateDefaults(image.trim());
  if (ref === null) return "the tag comes from a variable without a default";
  if (ref === "") return "empty image";
  if (/@sha256:[0-9a-f]{64}$/i.test(ref)) return null; // a digest pins the exact image, tag or not
  if (ref.includes("@")) return "malformed digest (expected @sha256:<64 hex digits>)";
  const name = ref.slice(ref.lastIndexOf("/") + 1); // a registry's ":port" sits before the last "/"
  const colon = name.lastIndexOf(":");
  if (colon === -1) return "no tag (Docker pulls :latest)";
  const tag = name.slice(colon + 1);
  if (tag === "") return "empty tag";
  const lower = tag.toLowerCase();
  if (FLOATING_TAGS.has(lower)) return `floating tag :${tag}`;
  // "stable-alpine", "main-slim", "latest-bookworm": a floating channel with a variant suffix.
  const channel = lower.split(/[-_.]/)[0] ?? "";
  if (FLOATING_TAGS.has(channel)) return `floating tag :${tag}`;
  if (!/\d/.test(tag)) return `tag :${tag} names no version`;
  return null;
}

/** Every service in a compose document whose pulled image is not pinned. */
export function findUnpinnedImages(composeYaml: string): UnpinnedImage[] {
  const doc = parse(composeYaml, { merge: true, maxAliasCount: -1 }) as unknown;
  if (doc === null || typeof doc !== "object")
    throw new Error("not a compose file: the document is not a mapping");
  const services = (doc as { services?: unknown }).services;
  if (services === undefined || services === null) return [];
  if (typeof services !== "object" || Array.isArray(services)) throw new Error("`services` is not a mapping");
  const problems: UnpinnedImage[] = [];
  for (const [service, definition] of Object.entries(services as Record<string, unknown>)) {
    if (definition === null || typeof definition !== "object") continue;
    const { image, build } = definition as { image?: unknown; build?: unknown };
    if (build !== undefined && build !== null) continue; // built here; `image` names the result
    if (image === undefined || image === null) continue;
    if (typeof image !== "string") {
      problems.push({ service, image: String(image), reason: "image is not a string" });
      continue;
    }
    const reason = unpinnedReason(image);
    if (reason) problems.push({ service, image, reason });
  }
  return problems;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2);
  if (files.length === 0) files.push("docker-compose.yml");
  let failed = false;
  for (const file of files) {
    const problems = findUnpinnedImages(readFileSync(file, "utf8"));
    for (const p of problems) console.error(`${file}: service "${p.service}": image ${p.image}: ${p.reason}`);
    if (problems.length > 0) failed = true;
    else console.log(`${file}: every pulled image is pinned`);
  }
  if (failed) {
    console.error(
      "\nPin each image to a released version tag (e.g. redis:7.4.2-alpine) or a digest (image@sha256:…).",
    );
    process.exit(1);
  }
}
