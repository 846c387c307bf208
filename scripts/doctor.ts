/**
 * `npm run doctor [-- --role edge|transcoder] [--timeout-ms 5000] [--dotenv path]`: checks this machine's configuration
 * (the environment, and .env when present) against the real services: the configuration rules, Redis
 * (TLS, AUTH, PING), Postgres (connection, migrations), storage (presigned PUT/GET/DELETE, CORS for
 * FRONTEND_ORIGIN), MongoDB, the edge (EDGE_URL/healthz) and the cache purge token. One line per problem,
 * with its fix; exit 1 when any check fails. Values of secrets are never printed.
 */
import { parseArgs } from "node:util";
import { loadDotEnv, type Role } from "./doctor/env.ts";
import { formatReports, hasFailures } from "./doctor/report.ts";
import { runDoctor } from "./doctor/run.ts";

const { values } = parseArgs({
  options: {
    role: { type: "string" },
    "timeout-ms": { type: "string" },
    dotenv: { type: "string", default: ".env" },
  },
});
const role = values.role;
if (role !== undefined && role !== "edge" && role !== "transcoder") {
  console.error('--role must be "edge" or "transcoder" (default: guessed from the variables set)');
  process.exit(2);
}
const loaded = loadDotEnv(values.dotenv);
const timeoutMs = Number(values["timeout-ms"] ?? process.env.DOCTOR_TIMEOUT_MS ?? 5000);
const reports = await runDoctor(process.env, {
  roles: role ? [role as Role] : undefined,
  timeoutMs: Number.isFinite(timeoutMs) && timeoutMs > 0 ? timeoutMs : 5000,
});
if (loaded) console.log(`(read ${values.dotenv})`);
for (const line of formatReports(reports)) console.log(line);
const failed = hasFailures(reports);
console.log(
  failed ? "doctor: problems found (fix the FAIL lines above)" : "doctor: everything checked is fine",
);
process.exit(failed ? 1 : 0);
