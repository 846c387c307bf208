CREATE TABLE "source_sweeps" (
	"video_id" uuid PRIMARY KEY NOT NULL,
	"sweep_until" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
DROP INDEX "videos_awaiting_upload_idx";--> statement-breakpoint
CREATE INDEX "videos_awaiting_upload_idx" ON "videos" USING btree ("updated_at") WHERE "videos"."status" = 'awaiting_upload';