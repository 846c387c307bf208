import ffmpeg from "fluent-ffmpeg";

export interface RunFfmpegOptions {
  /** Binary to run; defaults to "ffmpeg" on PATH. */
  ffmpegPath?: string;
  signal?: AbortSignal;
  /** Expected output duration in seconds, for progress. */
  durationSeconds?: number;
  /** Called with 0-100 as ffmpeg reports the time it has processed. */
  onProgress?: (percent: number) => void;
  /** Called with every stats line: processed time, frames per second and speed. */
  onStats?: (stats: FfmpegStats) => void;
  /**
   * Kill ffmpeg and fail when it prints nothing for this long: a wedged encode (a hung GPU, a stuck
   * read) would otherwise hold its job, and renew its lock, forever.
   */
  stallTimeoutMs?: number;
}

/** One ffmpeg stats line ("frame= … fps= … time= … speed=2.1x"). */
export interface FfmpegStats {
  /** Output time processed so far, in seconds. */
  seconds: number;
  /** Frames encoded per second; null when ffmpeg has no figure yet. */
  fps: number | null;
  /** Multiple of realtime; null while ffmpeg prints N/A. */
  speed: number | null;
}

/** ffmpeg went silent for longer than stallTimeoutMs and was killed (transient: the job is retried). */
export class FfmpegStalledError extends Error {
  override name = "FfmpegStalledError";
}

/** An ffmpeg run that failed; carries what is needed to reproduce and diagnose it. */
export class FfmpegError extends Error {
  override name = "FfmpegError";
  constructor(
    message: string,
    /** Shell-quoted command line. */
    readonly commandLine: string,
    /** The last stderr lines (progress lines excluded). */
    readonly stderrTail: string[],
  ) {
    super(message);
  }
}

const TAIL_LINES = 30;
const PROGRESS_LINE = /^\s*(frame|size)=.*time=/;

/** Quotes an argument for a copy-pasteable command line. */
function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Parses "time=00:01:02.50" from an ffmpeg stats line; null when absent or N/A. */
export function parseTimemark(line: string): number | null {
  const match = /time=\s*(-?)(\d+):(\d{2}):(\d{2}(?:\.\d+)?)/.exec(line);
  if (!match) return null;
  const seconds = Number(match[2]) * 3600 + Number(match[3]) * 60 + Number(match[4]);
  return match[1] === "-" ? 0 : seconds;
}

/** Reads a stats line; null when it carries no processed time yet. */
export function parseStats(line: string): FfmpegStats | null {
  const seconds = parseTimemark(line);
  if (seconds === null) return null;
  const number = (re: RegExp) => {
    const value = Number(re.exec(line)?.[1]);
    return Number.isFinite(value) && value >= 0 ? value : null;
  };
  return { seconds, fps: number(/fps=\s*([\d.]+)/), speed: number(/speed=\s*([\d.]+)x/) };
}

/** Progress as a percentage, clamped to 0-100 (ffmpeg overshoots the probed duration at the end). */
export function progressPercent(processedSeconds: number, durationSeconds: number): number {
  if (!(durationSeconds > 0)) return 0;
  return Math.min(100, Math.max(0, (processedSeconds / durationSeconds) * 100));
}

/** Splits argv into fluent-ffmpeg's inputs (options + -i) and one output (options + target). */
function toCommand(args: string[], ffmpegPath: string): ffmpeg.FfmpegCommand {
  const command = ffmpeg().setFfmpegPath(ffmpegPath);
  let pending: string[] = [];
  let inputs = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "-i") {
      const source = args[++i];
      if (source === undefined) throw new Error("ffmpeg args end with -i and no input");
      command.input(source);
      inputs++;
      // Several arguments at once: fluent-ffmpeg then never splits a value on its space.
      if (pending.length > 0) command.inputOptions(...(pending as [string, ...string[]]));
      pending = [];
    } else {
      pending.push(arg);
    }
  }
  const target = pending.pop();
  if (target === undefined || inputs === 0) throw new Error("ffmpeg args need -i and an output");
  command.output(target);
  if (pending.length > 0) command.outputOptions(...(pending as [string, ...string[]]));
  return command;
}

/**
 * The one place ffmpeg runs: a promise, abortable (the process is killed), with clamped progress
 * and errors that carry the command line and the tail of stderr.
 */
export function runFfmpeg(args: string[], options: RunFfmpegOptions = {}): Promise<void> {
  const ffmpegPath = options.ffmpegPath ?? "ffmpeg";
  const commandLine = [ffmpegPath, ...args].map(shellQuote).join(" ");
  const { signal } = options;
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const tail: string[] = [];
    let settled = false;
    let started = false;
    const command = toCommand(args, ffmpegPath);

    let lastOutputAt = Date.now();
    const stallMs = options.stallTimeoutMs;
    const watchdog =
      stallMs !== undefined && stallMs > 0
        ? setInterval(
            () => {
              if (Date.now() - lastOutputAt < stallMs) return;
              if (started) command.kill("SIGKILL");
              finish(
                new FfmpegStalledError(
                  `ffmpeg printed nothing for ${Math.round(stallMs / 1000)} s and was stopped`,
                ),
              );
            },
            Math.max(100, Math.min(5000, stallMs / 4)),
          )
        : undefined;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      signal?.removeEventListener("abort", onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => {
      if (started) command.kill("SIGKILL");
      finish(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });

    command.on("start", () => {
      started = true;
      if (signal?.aborted) command.kill("SIGKILL");
    });
    command.on("stderr", (line: string) => {
      lastOutputAt = Date.now();
      if (PROGRESS_LINE.test(line)) {
        const stats = parseStats(line);
        if (stats === null) return;
        if (options.onProgress && options.durationSeconds) {
          options.onProgress(progressPercent(stats.seconds, options.durationSeconds));
        }
        options.onStats?.(stats);
        return;
      }
      if (line.trim() === "") return;
      tail.push(line);
      if (tail.length > TAIL_LINES) tail.shift();
    });
    command.on("error", (err: Error) => {
      // fluent-ffmpeg appends a guess at the error lines; keep the first line and give the full tail.
      const first = err.message.split("\n")[0] ?? err.message;
      const last = tail.at(-1);
      const message = last && !first.includes(last) ? `${first}: ${last}` : first;
      finish(new FfmpegError(message, commandLine, [...tail]));
    });
    command.on("end", () => finish());
    command.run();
  });
}
