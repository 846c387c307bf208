import { spawn } from "node:child_process";

/**
 * The one place ffmpeg and ffprobe run (encodes, probes, the encoder probe, the poster, tool checks,
 * benchmarks): every run is a promise, stops when its AbortSignal aborts (the process is killed),
 * reports progress clamped to 0-100, and fails with an error that carries the command line and the tail
 * of stderr.
 */

/** One ffmpeg stats line ("frame= … fps= … time= … speed=2.1x"). */
export interface FfmpegStats {
  /** Output time processed so far, in seconds. */
  seconds: number;
  /** Frames encoded per second; null when ffmpeg has no figure yet. */
  fps: number | null;
  /** Multiple of realtime; null while ffmpeg prints N/A. */
  speed: number | null;
}

/** A run of ffmpeg or ffprobe that failed; carries what is needed to reproduce and diagnose it. */
export class FfmpegError extends Error {
  override name = "FfmpegError";
  /** Shell-quoted command line. */
  readonly commandLine: string;
  /** The last stderr lines (progress lines excluded). */
  readonly stderrTail: string[];

  constructor(message: string, commandLine: string, stderrTail: string[], options?: ErrorOptions) {
    super(message, options);
    this.commandLine = commandLine;
    this.stderrTail = stderrTail;
  }
}

/** ffmpeg went silent for longer than stallTimeoutMs and was killed (transient: the job is retried). */
export class FfmpegStalledError extends FfmpegError {
  override name = "FfmpegStalledError";
}

/**
 * ffmpeg ran past its wall-clock deadline (runFfmpeg's `timeoutMs`) and was killed. Not retried: a run
 * that took this long once will take as long again.
 */
export class FfmpegDeadlineError extends FfmpegError {
  override name = "FfmpegDeadlineError";
  /** The deadline that was exceeded, in milliseconds. */
  readonly timeoutMs: number;

  constructor(timeoutMs: number, commandLine: string, stderrTail: string[]) {
    super(
      `ffmpeg ran longer than its ${formatDuration(timeoutMs)} limit and was stopped`,
      commandLine,
      stderrTail,
    );
    this.timeoutMs = timeoutMs;
  }
}

/** "90 s", "25 min", "3.5 h". */
export function formatDuration(ms: number): string {
  const seconds = ms / 1000;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/**
 * The wall-clock limit for a run over `mediaSeconds` of media: `factor` seconds per second of media,
 * never under `minimumMs`. A run past it is killed, on top of the silence watchdog.
 */
export function mediaDeadlineMs(mediaSeconds: number, factor: number, minimumMs: number): number {
  const scaled = Number.isFinite(mediaSeconds) && mediaSeconds > 0 ? mediaSeconds * factor * 1000 : 0;
  return Math.max(minimumMs, Math.ceil(scaled));
}

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
  /** Kill ffmpeg and fail with FfmpegDeadlineError when it runs longer than this in all. */
  timeoutMs?: number;
  /** Address-space ceiling of the process (see spawnCommand); none when absent. */
  memoryLimitBytes?: number;
  /** CPU niceness of the process (see spawnCommand); the normal priority when absent. */
  niceness?: number;
}

/** What a short tool run (ffprobe, a one-second probe encode, -version) left behind. */
export interface ToolRun {
  /** Exit code; null when the run was killed for taking longer than timeoutMs. */
  code: number | null;
  /** The signal that ended it when something else killed it (e.g. the kernel's OOM killer: SIGKILL). */
  killedBy: string | null;
  stdout: string;
  stderr: string;
  /** Shell-quoted command line, for errors and logs. */
  commandLine: string;
}

export interface ExecToolOptions {
  signal?: AbortSignal;
  /** Kill the run after this long; it then resolves with code null. */
  timeoutMs?: number;
  /** Most stdout/stderr bytes kept (each); the run is killed and fails beyond it. */
  maxBufferBytes?: number;
  /** Address-space ceiling of the process (see spawnCommand); none when absent. */
  memoryLimitBytes?: number;
  /** CPU niceness of the process (see spawnCommand); the normal priority when absent. */
  niceness?: number;
}

const TAIL_LINES = 30;
const PROGRESS_LINE = /^\s*(frame|size)=.*time=/;
const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;

/** Quotes an argument for a copy-pasteable command line. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * The shell-quoted command line of a run, as errors and logs carry it, with the signature of a
 * presigned source URL (storage.presignGet) blanked: it would let anyone reading the logs fetch the
 * upload until it expires.
 */
export function commandLineOf(binary: string, args: readonly string[]): string {
  return [binary, ...args]
    .map((arg) => shellQuote(arg.replace(/([?&]X-Amz-Signature=)[^&\s]+/gi, "$1REDACTED")))
    .join(" ");
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

/** The last non-empty lines of some stderr text. */
export function stderrTail(stderr: string, lines = TAIL_LINES): string[] {
  return stderr
    .split(/\r\n|\r|\n/)
    .filter((l) => l.trim() !== "" && !PROGRESS_LINE.test(l))
    .slice(-lines);
}

/**
 * What a child inherits from this process's environment: the search path, locale, time zone and temp
 * folder, and for NVENC the NVIDIA/CUDA variables and the library path. Nothing else: ffmpeg reads
 * hostile input, so it never sees S3 keys, REDIS_URL, TRANSCODER_SECRET or anything an operator adds.
 */
const KEPT_ENV = new Set(["PATH", "LD_LIBRARY_PATH", "TMPDIR", "TZ", "LANG", "LC_ALL", "LC_CTYPE"]);
const KEPT_ENV_PREFIXES = ["NVIDIA_", "CUDA_"];

/** The minimal environment every ffmpeg/ffprobe child runs with (see KEPT_ENV). */
export function childEnv(parent: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept = Object.entries(parent).filter(
    ([name, value]) =>
      value !== undefined && (KEPT_ENV.has(name) || KEPT_ENV_PREFIXES.some((p) => name.startsWith(p))),
  );
  return Object.fromEntries(kept);
}

/** How the child runs beyond its arguments (see spawnCommand). */
export interface ChildLimits {
  /** Address-space ceiling of the process; none when absent. */
  memoryLimitBytes?: number;
  /**
   * CPU niceness (1-19) the process starts with, so work that can wait yields the cores to work that
   * cannot (a video's first chunk); the normal priority when absent or 0.
   */
  niceness?: number;
}

/**
 * The command actually started: with a memory ceiling, util-linux's prlimit sets RLIMIT_AS and execs
 * the binary (Node cannot set a child's limits itself), so an allocation past it fails inside ffmpeg,
 * which exits with an error, instead of the node's OOM killer picking a victim. Address space, not
 * resident memory: callers leave it off for CUDA, which reserves tens of GB of address space it never
 * touches. With a niceness, coreutils' nice execs the binary at it, so every thread ffmpeg starts has
 * it (os.setPriority after the spawn would reach only the main thread, and race the encoder threads).
 * Both exec, so the child's pid is ffmpeg's and a kill reaches it.
 */
export function spawnCommand(
  binary: string,
  args: readonly string[],
  limits: ChildLimits = {},
): { command: string; args: string[] } {
  let command = { command: binary, args: [...args] };
  const { memoryLimitBytes, niceness } = limits;
  if (niceness !== undefined && niceness !== 0) {
    if (!(Number.isInteger(niceness) && niceness > 0 && niceness < 20)) {
      throw new Error(`niceness must be a whole number from 1 to 19, got ${niceness}`);
    }
    command = { command: "nice", args: ["-n", String(niceness), "--", command.command, ...command.args] };
  }
  if (memoryLimitBytes !== undefined && memoryLimitBytes > 0) {
    const limit = `--as=${Math.floor(memoryLimitBytes)}`;
    command = { command: "prlimit", args: [limit, "--", command.command, ...command.args] };
  }
  return command;
}

interface SpawnOptions extends ChildLimits {
  signal?: AbortSignal;
  timeoutMs?: number;
  stallTimeoutMs?: number;
  captureStdout: boolean;
  maxBufferBytes: number;
  /** Every stderr line as it arrives ("\r"-terminated stats lines included). */
  onLine?: (line: string) => void;
}

/**
 * How long a killed child may take to exit before the run settles without it: a process stuck in the
 * kernel (a hung GPU driver) can ignore SIGKILL for ever, and the job must be freed anyway.
 */
const KILL_GRACE_MS = 5_000;

type Ended =
  | { kind: "exit"; code: number; killedBy: string | null; stdout: string; stderr: string }
  | { kind: "timeout" | "stall" | "overflow"; stdout: string; stderr: string };

/** Spawns `binary` and settles once it has exited and its pipes are drained; the signal's reason on abort. */
function spawnTool(
  binary: string,
  args: readonly string[],
  commandLine: string,
  options: SpawnOptions,
): Promise<Ended> {
  const { signal } = options;
  return new Promise<Ended>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const command = spawnCommand(binary, args, options);
    const child = spawn(command.command, command.args, {
      stdio: ["ignore", options.captureStdout ? "pipe" : "ignore", "pipe"],
      env: childEnv(process.env),
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    let stopped: "timeout" | "stall" | "overflow" | null = null;
    let settled = false;
    let lastOutputAt = Date.now();
    let abandon: NodeJS.Timeout | undefined;

    const finish = (result: Ended | { error: unknown }) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearTimeout(abandon);
      clearInterval(watchdog);
      signal?.removeEventListener("abort", onAbort);
      if ("error" in result) reject(result.error);
      else resolve(result);
    };
    const stop = (why: "timeout" | "stall" | "overflow") => {
      stopped ??= why;
      child.kill("SIGKILL");
      abandon ??= setTimeout(() => finish({ kind: why, stdout, stderr }), KILL_GRACE_MS);
    };
    const onAbort = () => {
      child.kill("SIGKILL");
      finish({ error: signal?.reason });
    };
    signal?.addEventListener("abort", onAbort, { once: true });

    const deadline =
      options.timeoutMs !== undefined && options.timeoutMs > 0
        ? setTimeout(() => stop("timeout"), options.timeoutMs)
        : undefined;
    const stallMs = options.stallTimeoutMs;
    const watchdog =
      stallMs !== undefined && stallMs > 0
        ? setInterval(
            () => {
              if (Date.now() - lastOutputAt >= stallMs) stop("stall");
            },
            Math.max(100, Math.min(5000, stallMs / 4)),
          )
        : undefined;

    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (chunk: string) => {
      stdout += chunk;
      if (stdout.length > options.maxBufferBytes) stop("overflow");
    });
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      lastOutputAt = Date.now();
      if (stderr.length < options.maxBufferBytes) stderr += chunk;
      // Stats lines end in "\r", everything else in "\n".
      const lines = (partial + chunk).split(/\r\n|\r|\n/);
      partial = lines.pop() ?? "";
      for (const line of lines) options.onLine?.(line);
    });
    child.on("error", (err) => {
      finish({
        error: new FfmpegError(`${binary} could not be started: ${err.message}`, commandLine, [], {
          cause: err,
        }),
      });
    });
    child.on("close", (code, killedBy) => {
      if (partial !== "") options.onLine?.(partial);
      partial = "";
      if (stopped) finish({ kind: stopped, stdout, stderr });
      else finish({ kind: "exit", code: code ?? -1, killedBy: killedBy ?? null, stdout, stderr });
    });
  });
}

/**
 * Runs a short tool invocation (ffprobe, a one-second probe encode, `-version`) to completion and hands
 * back its exit code and output: a non-zero exit is data for the caller to classify, a run past
 * `timeoutMs` is killed and resolves with code null. Rejects (an FfmpegError with the command line)
 * when the binary cannot start or its output overflows, and with the signal's reason on abort.
 */
export async function execTool(
  binary: string,
  args: readonly string[],
  options: ExecToolOptions = {},
): Promise<ToolRun> {
  const commandLine = commandLineOf(binary, args);
  const ended = await spawnTool(binary, args, commandLine, {
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    memoryLimitBytes: options.memoryLimitBytes,
    niceness: options.niceness,
    captureStdout: true,
    maxBufferBytes: options.maxBufferBytes ?? DEFAULT_MAX_BUFFER,
  });
  if (ended.kind === "overflow") {
    throw new FfmpegError(`${binary} wrote more output than allowed`, commandLine, stderrTail(ended.stderr));
  }
  const code = ended.kind === "exit" ? ended.code : null;
  const killedBy = ended.kind === "exit" ? ended.killedBy : null;
  return { code, killedBy, stdout: ended.stdout, stderr: ended.stderr, commandLine };
}

/** How a process ended, in words: its exit code, or the signal that killed it. */
function exitText(code: number, killedBy: string | null): string {
  return killedBy ? `was killed by ${killedBy}` : `exited with code ${code}`;
}

/** Turns a failed tool run into an error that says what ran and what it printed last. */
export function toolRunError(binary: string, run: ToolRun, timeoutMs?: number): FfmpegError {
  const tail = stderrTail(run.stderr);
  const message =
    run.code === null
      ? `${binary} did not finish within ${timeoutMs ?? "the allowed"} ms`
      : `${binary} ${exitText(run.code, run.killedBy)}${tail.length > 0 ? `: ${tail.at(-1)}` : ""}`;
  return new FfmpegError(message, run.commandLine, tail);
}

/** Argv must read at least one input and end with an output target. */
function checkArgs(args: readonly string[]): void {
  const input = args.indexOf("-i");
  if (input < 0 || input + 2 >= args.length) throw new Error("ffmpeg args need -i and an output");
}

/**
 * Runs a (long) ffmpeg encode: a promise, abortable (the process is killed), with clamped progress,
 * a watchdog for a silent ffmpeg, and errors that carry the command line and the tail of stderr.
 */
export async function runFfmpeg(args: string[], options: RunFfmpegOptions = {}): Promise<void> {
  const ffmpegPath = options.ffmpegPath ?? "ffmpeg";
  checkArgs(args);
  const commandLine = commandLineOf(ffmpegPath, args);
  const tail: string[] = [];
  const onLine = (line: string) => {
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
  };
  const ended = await spawnTool(ffmpegPath, args, commandLine, {
    signal: options.signal,
    stallTimeoutMs: options.stallTimeoutMs,
    timeoutMs: options.timeoutMs,
    memoryLimitBytes: options.memoryLimitBytes,
    niceness: options.niceness,
    captureStdout: false,
    maxBufferBytes: 64 * 1024,
    onLine,
  });
  if (ended.kind === "exit" && ended.code === 0) return;
  if (ended.kind === "stall") {
    const seconds = Math.round((options.stallTimeoutMs ?? 0) / 1000);
    throw new FfmpegStalledError(`ffmpeg printed nothing for ${seconds} s and was stopped`, commandLine, [
      ...tail,
    ]);
  }
  if (ended.kind === "timeout") {
    throw new FfmpegDeadlineError(options.timeoutMs ?? 0, commandLine, [...tail]);
  }
  const last = tail.at(-1);
  const how = ended.kind === "exit" ? exitText(ended.code, ended.killedBy) : "exited with code null";
  throw new FfmpegError(`ffmpeg ${how}${last ? `: ${last}` : ""}`, commandLine, [...tail]);
}
