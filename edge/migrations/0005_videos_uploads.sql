ALTER TABLE "videos" ADD COLUMN "upload_bytes" bigint;--> statement-breakpoint
ALTER TABLE "videos" ADD COLUMN "source_content_type" text;--> statement-breakpoint
ALTER TABLE "videos" ADD COLUMN "source_file_name" text;--> statement-breakpoint
ALTER TABLE "videos" ADD COLUMN "upload_id" text;--> statement-breakpoint
ALTER TABLE "videos" ADD COLUMN "upload_part_bytes" integer;--> statement-breakpoint
ALTER TABLE "videos" ADD COLUMN "source_url" text;--> statement-breakpoint
ALTER TABLE "videos" ADD COLUMN "transcode_run" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
CREATE INDEX "videos_awaiting_upload_idx" ON "videos" USING btree ("created_at") WHERE "videos"."status" = 'awaiting_upload';