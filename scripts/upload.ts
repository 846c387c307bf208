/**
 * `npm run upload -- <file|url> [--title …] [--private]`: uploads a file (parts in parallel, resumed after an
 * interruption) or imports a URL to a Streamlet edge, then follows the transcode to ready. Progress goes to
 * stderr; the result (or with --json one JSON line) to stdout. Exit 0 when ready (or, with --no-wait, once
 * the upload is confirmed), 1 on failure, 2 for a bad command line, 130 when interrupted.
 */
import { existsSync, statSync } from "node:fs";
import { parseOptions, USAGE, UsageError } from "./upload/args.ts";
import { describeError } from "./upload/errors.ts";
import { type Outcome, runUpload } from "./upload/run.ts";
import { savedLoginFile, signIn } from "./upload/session.ts";
import { progressView } from "./upload/view.ts";

const say = (text: string) => process.stderr.write(`${text}\n`);

let opts: ReturnType<typeof parseOptions>;
try {
  opts = parseOptions(process.argv.slice(2), process.env);
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  say(`${error.message}\n\n${USAGE}`);
  process.exit(2);
}
if (opts === "help") {
  console.log(USAGE);
  process.exit(0);
}
if (opts.source?.kind === "file" && !(existsSync(opts.source.path) && statSync(opts.source.path).isFile())) {
  say(`no such file: ${opts.source.path}`);
  process.exit(2);
}

const view = progressView(process.stderr);
process.on("SIGINT", () => {
  view.clear();
  say("\ninterrupted: run the same command again to resume");
  process.exit(130);
});

/** The result for people: the status, the API URL and the HLS URL. */
function report(o: Outcome) {
  if (opts === "help") return;
  if (opts.json) {
    console.log(JSON.stringify(o));
    return;
  }
  const status = o.status === "failed" ? `failed: ${o.reason ?? "no reason given"}` : o.status;
  console.log(`video  ${o.url}  (${status})`);
  if (o.hls) console.log(`hls    ${o.hls}`);
}

let code = 1;
try {
  const session = await signIn(opts.edge, process.env, opts.login);
  view.say(`signed in to ${opts.edge} as ${session.email} (${session.how})`);
  if (opts.login) view.say(`login saved in ${savedLoginFile(opts.edge, process.env)}`);
  const { source } = opts;
  const finished = source
    ? await runUpload({ opts: { ...opts, source }, session, view, env: process.env })
    : null;
  session.close();
  if (finished) report(finished);
  code = !finished || finished.status === "ready" || (!opts.wait && finished.status !== "failed") ? 0 : 1;
} catch (error) {
  view.clear();
  say(`upload failed: ${describeError(error, opts.edge)}`);
  if (opts.json) console.log(JSON.stringify({ status: "error", error: describeError(error, opts.edge) }));
}
process.exit(code);
