import { runFfmpeg } from "@streamlet/transcoder/media";

/** Hard-to-compress 1080p30 footage: test pattern + scrolling Game of Life + hue drift + temporal grain, with audio. */
export async function generateSource(file: string, seconds: number, ffmpegPath = "ffmpeg"): Promise<number> {
  const started = performance.now();
  const d = String(seconds);
  await runFfmpeg(
    [
      ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
      ...["-f", "lavfi", "-i", `testsrc2=s=1920x1080:r=30:d=${d}`],
      ...[
        "-f",
        "lavfi",
        "-i",
        "life=s=640x360:r=30:ratio=0.3:mold=20:life_color=#ffd080:death_color=#103060:mold_color=#604020",
      ],
      ...["-f", "lavfi", "-i", `sine=f=330:r=48000:d=${d}`],
      ...["-f", "lavfi", "-i", `anoisesrc=c=pink:r=48000:a=0.05:d=${d}`],
      "-filter_complex",
      "[1:v]scale=1920:1080:flags=bicubic,format=yuv420p,scroll=h=0.003:v=0.002[life];[0:v]format=yuv420p[pattern];" +
        "[pattern][life]blend=all_mode=average,hue=H=2*PI*t/8,noise=alls=20:allf=t+u[v];" +
        "[2:a][3:a]amix=inputs=2:normalize=0[a]",
      ...["-map", "[v]", "-map", "[a]", "-t", d],
      ...["-c:v", "libx264", "-preset", "veryfast", "-b:v", "12M", "-maxrate", "15M", "-bufsize", "24M"],
      ...["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", file],
    ],
    { ffmpegPath },
  );
  return (performance.now() - started) / 1000;
}
