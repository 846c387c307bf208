/**
 * `npm run dev`: the whole stack on 127.0.0.1 with no configuration. State lives in .data/ (ignored).
 * Services named by env (REDIS_URL, DATABASE_URL, S3_ENDPOINT, ...) are used instead of started.
 * Ctrl-C stops every child.
 */
import path from "node:path";
import { ROOT } from "./stack/services.ts";
import { DEV_PORTS, startStack } from "./stack/stack.ts";

const dataDir = process.env.STREAMLET_DATA_DIR ?? path.join(ROOT, ".data");
const stack = await startStack({
  dataDir,
  ports: DEV_PORTS,
  durable: true,
  transcoders: Number(process.env.TRANSCODERS ?? 1),
  log: (name) => (line) => process.stderr.write(`[${name}] ${line}\n`),
});

console.log(`
Streamlet is running (data in ${path.relative(process.cwd(), dataDir) || "."}):
  edge API      ${stack.edgeUrl}            (OpenAPI: ${stack.edgeUrl}/openapi.json)
  Redis         ${stack.edgeVars.REDIS_URL}
  Postgres      ${stack.edgeVars.DATABASE_URL}
  S3 (s3rver)   ${stack.edgeVars.S3_ENDPOINT}  bucket ${stack.edgeVars.S3_BUCKET}
Press Ctrl-C to stop.`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    console.error("\nstopping…");
    await stack.stop();
    process.exit(0);
  });
}
