import { run } from "./proc.ts";

export interface ClipOptions {
  seconds: number;
  width: number;
  height: number;
  fps?: number;
  audio?: boolean;
}

/** Generates a synthetic H.264/AAC MP4 (moving test pattern, sine tone) so no sample media is committed. */
export async function makeClip(file: string, o: ClipOptions) {
  const fps = o.fps ?? 30;
  const args = ["-v", "error", "-y", "-f", "lavfi", "-i", `testsrc2=size=${o.width}x${o.height}:rate=${fps}`];
  if (o.audio ?? true) args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000");
  args.push("-t", String(o.seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p");
  if (o.audio ?? true) args.push("-c:a", "aac", "-b:a", "128k");
  args.push("-movflags", "+faststart", file);
  await run("ffmpeg", args);
  return file;
}
