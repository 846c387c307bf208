/** `npm run db:migrate`: applies edge/migrations to DATABASE_URL (a direct Postgres URL, e.g. Neon's). */
import { applyMigrations } from "./stack/migrate.ts";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is not set");
  process.exit(2);
}
await applyMigrations(url);
console.log("migrations applied");
