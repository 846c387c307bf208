import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { edgeEnvFile, edgeVarNames, edgeVarNamesFromSource } from "../doctor/edge-vars.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");

/** Keys of a block's mapping: the lines indented exactly `indent` spaces after `header`, until it ends. */
function mappingKeys(lines: string[], headerIndex: number, indent: number): string[] {
  const keys: string[] = [];
  for (let i = headerIndex + 1; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.trim() === "" || line.trim().startsWith("#")) continue;
    const lead = line.length - line.trimStart().length;
    if (lead < indent) break;
    if (lead === indent) {
      const m = /^\s*([A-Za-z_<][A-Za-z0-9_<]*)\s*:/.exec(line);
      if (m) keys.push(m[1] as string);
    }
  }
  return keys;
}

/** The variables docker-compose.yml gives the edge service, anchors (<<: *storage) included. */
function composeEdgeEnv(yaml: string): string[] {
  const lines = yaml.split("\n");
  const edge = lines.findIndex((l) => /^ {2}edge:\s*$/.test(l));
  expect(edge, "docker-compose.yml has an edge service").toBeGreaterThan(0);
  const env = lines.findIndex((l, i) => i > edge && /^ {4}environment:\s*$/.test(l));
  expect(env, "the edge service has an environment mapping").toBeGreaterThan(edge);
  const keys = mappingKeys(lines, env, 6);
  const merged: string[] = [];
  for (const line of lines.slice(env + 1)) {
    const m = /^ {6}<<:\s*\*([\w-]+)/.exec(line);
    if (m) merged.push(m[1] as string);
    if (/^ {2}\S/.test(line)) break;
  }
  for (const anchor of merged) {
    const at = lines.findIndex((l) => new RegExp(`^x-[\\w-]+:\\s*&${anchor}\\s*$`).test(l));
    expect(at, `anchor &${anchor} exists`).toBeGreaterThanOrEqual(0);
    keys.push(...mappingKeys(lines, at, 2));
  }
  return keys.filter((k) => k !== "<<");
}

describe("edge variables: edge/src/config.ts is the one list", () => {
  it("finds the Worker's variables in config.ts", () => {
    const names = edgeVarNames();
    for (const name of [
      "DATABASE_URL",
      "REDIS_URL",
      "JWT_SECRET",
      "MONGODB_URL",
      "CLOUDFLARE_PURGE_TOKEN",
      "RATE_LIMIT_REFRESH",
    ])
      expect(names).toContain(name);
    // Every env.X the schema's refinements and transforms read is one of the object's keys.
    const used = new Set(
      [...read("edge/src/config.ts").matchAll(/\benv\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]),
    );
    for (const name of used) expect(names).toContain(name);
  });

  it("docker-compose.yml passes every one of them to the edge service", () => {
    const passed = new Set(composeEdgeEnv(read("docker-compose.yml")));
    const missing = edgeVarNames().filter((name) => !passed.has(name));
    expect(missing, "add these to the edge service's environment in docker-compose.yml").toEqual([]);
  });

  it("the edge image writes the Worker's env file from that list (no hand-kept copy)", () => {
    const dockerfile = read("edge/Dockerfile");
    expect(dockerfile).toMatch(/scripts\/doctor\/write-edge-env\.ts/);
    expect(dockerfile).not.toMatch(/grep -E/);
  });

  it("writes set, non-empty variables only, quoted", () => {
    const text = edgeEnvFile({ JWT_SECRET: "a b#c", REDIS_URL: "", HOME: "/root" }, [
      "JWT_SECRET",
      "REDIS_URL",
    ]);
    expect(text).toBe('JWT_SECRET="a b#c"\n');
  });

  it("refuses, by name, a value wrangler would change on reading the file", () => {
    for (const value of ['a"b', "a\\b", "pa$word", "two\nlines"]) {
      expect(() => edgeEnvFile({ JWT_SECRET: value }, ["JWT_SECRET"]), value).toThrow(/^JWT_SECRET contains/);
    }
  });

  it("parses the keys of the first z.object only, nested objects aside", () => {
    const source = `const X = z.object({\n  A_B: z.string(),\n  C: optional(z.object({ inner: 1 })),\n}).transform((env) => ({ D: env.A_B }));`;
    expect(edgeVarNamesFromSource(source)).toEqual(["A_B", "C"]);
  });
});
