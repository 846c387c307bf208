/**
 * The variables the edge Worker reads, taken from edge/src/config.ts itself (the keys of its zod object), so
 * the edge image's env file and docker-compose's edge service cannot drift from it. Plain text parsing:
 * importing config.ts would need its dependencies, and the image's start-up must not.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

export const EDGE_CONFIG_PATH = path.resolve(import.meta.dirname, "../../edge/src/config.ts");

/** Names of the keys of the first `z.object({ ... })` in the source (upper-case names only). */
export function edgeVarNamesFromSource(source: string): string[] {
  const start = source.search(/z\s*\.object\(\s*\{/);
  if (start < 0) throw new Error("edge config: no z.object({ ... }) found");
  const open = source.indexOf("{", start);
  let depth = 0;
  let end = -1;
  for (let i = open; i < source.length; i++) {
    const ch = source[i];
    if (ch === "{") depth++;
    else if (ch === "}") {
      depth--;
      if (depth === 0) {
        end = i;
        break;
      }
    }
  }
  if (end < 0) throw new Error("edge config: unbalanced z.object({ ... })");
  const body = source.slice(open + 1, end);
  // Top-level keys sit at the start of a line: "    NAME: ...". Nested lines never start with an upper-case key.
  const names = [...body.matchAll(/^\s*([A-Z][A-Z0-9_]*)\s*:/gm)].map((m) => m[1] as string);
  if (names.length === 0) throw new Error("edge config: the z.object has no upper-case keys");
  return [...new Set(names)];
}

export function edgeVarNames(configPath = EDGE_CONFIG_PATH): string[] {
  return edgeVarNamesFromSource(readFileSync(configPath, "utf8"));
}

// wrangler reads the file with dotenv (which keeps backslashes and turns "\n" into a newline inside double
// quotes) and then expands $VARIABLES with dotenv-expand: a value with any of these would not arrive as set.
const UNCARRIABLE = /["\\$\n\r]/;

/**
 * An env file (dotenv syntax, values double-quoted) with every edge variable that is set and non-empty.
 * Throws, naming the variable, for a value wrangler would alter on reading it.
 */
export function edgeEnvFile(env: Record<string, string | undefined>, names = edgeVarNames()): string {
  const lines: string[] = [];
  for (const name of names) {
    const value = env[name];
    if (value === undefined || value === "") continue;
    if (UNCARRIABLE.test(value)) {
      throw new Error(
        `${name} contains a character wrangler's env file cannot carry unchanged (", \\, $ or a line break): use a hex or base64 secret`,
      );
    }
    lines.push(`${name}="${value}"`);
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}
