ALTER TABLE "videos" ADD COLUMN "playable_at" timestamp (3) with time zone;--> statement-breakpoint
-- Videos that were ready before the column existed were playable from then on.
UPDATE "videos" SET "playable_at" = "ready_at" WHERE "playable_at" IS NULL AND "ready_at" IS NOT NULL;
