/**
 * `node scripts/doctor/write-edge-env.ts <file>`: the edge image's start-up (edge/Dockerfile) writes the
 * Worker's env file from the container's environment, for every variable edge/src/config.ts reads.
 */
import { writeFileSync } from "node:fs";
import { edgeEnvFile } from "./edge-vars.ts";

const file = process.argv[2];
if (!file) {
  console.error("usage: node scripts/doctor/write-edge-env.ts <env-file>");
  process.exit(2);
}
try {
  writeFileSync(file, edgeEnvFile(process.env), { mode: 0o600 });
} catch (err) {
  console.error(`edge: ${(err as Error).message}`);
  process.exit(1);
}
