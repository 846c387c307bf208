import { existsSync } from "node:fs";

/** Loads `.env` (when present) into process.env without overriding variables already set. */
export function loadDotEnv(file = ".env"): boolean {
  if (!existsSync(file)) return false;
  process.loadEnvFile(file);
  return true;
}

export type Role = "edge" | "transcoder";

/**
 * Which side this configuration is for: an edge has DATABASE_URL or JWT_SECRET, a transcoder node EDGE_URL
 * (and never database credentials). Neither: check both, so every missing variable is reported.
 */
export function detectRoles(env: Record<string, string | undefined>): Role[] {
  const roles: Role[] = [];
  if (env.DATABASE_URL || env.JWT_SECRET) roles.push("edge");
  if (env.EDGE_URL) roles.push("transcoder");
  return roles.length ? roles : ["edge", "transcoder"];
}

/** FRONTEND_ORIGIN: one origin or a comma-separated list (the origins browsers upload from). */
export const frontendOrigins = (env: Record<string, string | undefined>) =>
  (env.FRONTEND_ORIGIN ?? "")
    .split(",")
    .map((o) => o.trim().replace(/\/+$/, ""))
    .filter(Boolean);
