/**
 * The configuration itself, checked with the services' own zod schemas (edge/src/config.ts and
 * transcoder/src/config.ts; importing them has no side effects), plus rules between variables.
 */

import {
  loadConfig as loadTranscoderConfig,
  ConfigError as TranscoderConfigError,
} from "@streamlet/transcoder/config";
import { ConfigError as EdgeConfigError, loadConfig as loadEdgeConfig } from "../../edge/src/config.ts";
import type { Role } from "./env.ts";
import { fail, type Report, report, warn } from "./report.ts";

type Env = Record<string, string | undefined>;

const WHERE: Record<Role, string> = {
  edge: "in .env (docker-compose) or with `npx wrangler secret put NAME` (production)",
  transcoder: "in the node's env file (transcoder.env, docker run --env-file)",
};

/** "NAME: message" issues out of either service's ConfigError text. */
function issues(message: string): Array<{ name: string; message: string }> {
  const body = message
    .replace(/^invalid Worker configuration:\s*/i, "")
    .replace(/^Invalid transcoder configuration:\s*/i, "");
  return body
    .split(/;\s+|\n/)
    .map((s) => s.replace(/^\s*-\s*/, "").trim())
    .filter(Boolean)
    .map((s) => {
      const at = s.indexOf(": ");
      return at > 0 ? { name: s.slice(0, at), message: s.slice(at + 2) } : { name: "(env)", message: s };
    });
}

export function checkConfig(role: Role, env: Env): Report {
  const r = report(`${role} config`);
  try {
    if (role === "edge") loadEdgeConfig({ ...env });
    else loadTranscoderConfig({ ...env });
    r.ok.push("every variable is present and well-formed");
  } catch (err) {
    if (!(err instanceof EdgeConfigError) && !(err instanceof TranscoderConfigError)) throw err;
    for (const issue of issues(err.message)) {
      const missing = /is not set|is required/.test(issue.message) || !env[issue.name];
      fail(
        r,
        `${issue.name} ${missing ? "is not set" : issue.message}`,
        `set ${issue.name} ${WHERE[role].replace("NAME", issue.name)}${missing ? "" : " to a valid value"} (.env.example explains it)`,
      );
    }
  }
  return r;
}

/** Rules the schemas cannot express on their own. */
export function checkSecrets(env: Env): Report {
  const r = report("secrets");
  const jwt = env.JWT_SECRET ?? "";
  const transcoder = env.TRANSCODER_SECRET ?? "";
  if (jwt && transcoder && jwt === transcoder)
    fail(
      r,
      "JWT_SECRET and TRANSCODER_SECRET are the same value",
      "give each its own random value (openssl rand -base64 48); the transcoder's secret must not sign user tokens",
    );
  for (const [name, value] of Object.entries({ JWT_SECRET: jwt, TRANSCODER_SECRET: transcoder })) {
    if (value && /change.?me|example|fake|secret123|^(.)\1+$/i.test(value))
      warn(r, `${name} looks like a placeholder`, `replace it with a random value: openssl rand -base64 48`);
  }
  if (r.problems.length === 0 && jwt && transcoder)
    r.ok.push("JWT_SECRET and TRANSCODER_SECRET are distinct");
  return r;
}
