import path from "node:path";
import { parseArgs } from "node:util";
import type { Visibility } from "@streamlet/shared";
import { DEV_PORTS } from "../stack/stack.ts";

export const USAGE = `Usage: npm run upload -- <file|url> [options]

Uploads a video file (or imports one from an http/https URL) to a Streamlet edge and follows its
transcode until it is ready. Interrupted? Run the same command again: the upload resumes.

Options:
  --title TEXT        title (default: the file name)
  --description TEXT  description
  --private           visible to you only (default: public)
  --unlisted          readable by anyone with its id, never listed
  --concurrency N     parts in flight at once (default 4)
  --no-wait           exit once the upload is confirmed (do not follow the transcode)
  --json              print one JSON summary line last on stdout
  --edge URL          the edge (default: STREAMLET_EDGE_URL, else the local \`npm run dev\` edge)
  --login             sign in (STREAMLET_EMAIL/STREAMLET_PASSWORD, or asked for) and save the login
  -h, --help          this text

Sign-in, first that applies: STREAMLET_EMAIL + STREAMLET_PASSWORD; the login saved by --login for this
edge (~/.config/streamlet/<edge-host>.json); on a loopback edge, a local development account the CLI
creates and keeps in the stack's data folder (.data/cli-account.json, or under STREAMLET_DATA_DIR).`;

export type Source = { kind: "file"; path: string } | { kind: "url"; url: string };

export interface Options {
  /** An absolute file path, or an http(s) URL to import; null for a plain --login. */
  source: Source | null;
  edge: string;
  title: string;
  description?: string;
  visibility: Visibility;
  concurrency: number;
  wait: boolean;
  json: boolean;
  login: boolean;
}

/** Thrown for a bad command line: the entry prints it with the usage and exits 2. */
export class UsageError extends Error {}

/** Parses the command line (npm passes the caller's folder as INIT_CWD: relative paths start there). */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options | "help" {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  const [target, ...extra] = positionals;
  if (!target && !values.login) throw new UsageError("give a file or an http(s) URL to upload");
  if (extra.length > 0) throw new UsageError(`one file or URL at a time (also got: ${extra.join(" ")})`);
  if (values.private && values.unlisted) throw new UsageError("--private and --unlisted exclude each other");
  const concurrency = Number(values.concurrency ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 32) {
    throw new UsageError("--concurrency must be a whole number from 1 to 32");
  }
  const edge = (values.edge ?? env.STREAMLET_EDGE_URL ?? `http://127.0.0.1:${DEV_PORTS.edge}`).replace(
    /\/+$/,
    "",
  );
  if (!/^https?:\/\/[^/]+/.test(edge)) throw new UsageError(`--edge must be an http(s) URL, not ${edge}`);

  const source: Source | null = !target
    ? null
    : /^https?:\/\//i.test(target)
      ? { kind: "url", url: target }
      : { kind: "file", path: path.resolve(env.INIT_CWD ?? process.cwd(), target) };
  const title =
    values.title ??
    (!source ? "" : source.kind === "file" ? path.basename(source.path) : fileNameOfUrl(source.url)).slice(
      0,
      200,
    );
  return {
    source,
    edge,
    title,
    description: values.description,
    visibility: values.private ? "private" : values.unlisted ? "unlisted" : "public",
    concurrency,
    wait: !values["no-wait"],
    json: values.json ?? false,
    login: values.login ?? false,
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      title: { type: "string" },
      description: { type: "string" },
      private: { type: "boolean" },
      unlisted: { type: "boolean" },
      concurrency: { type: "string" },
      "no-wait": { type: "boolean" },
      json: { type: "boolean" },
      edge: { type: "string" },
      login: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

function fileNameOfUrl(url: string): string {
  const last = new URL(url).pathname.split("/").filter(Boolean).pop();
  return last ? decodeURIComponent(last) : new URL(url).host;
}
