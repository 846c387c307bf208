export type LogFields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` (job id, video id) to every line. */
  child(fields: LogFields): Logger;
}

/** Flattens an error into loggable fields, keeping ffmpeg's command line and stderr tail when present. */
export function errorFields(err: unknown): LogFields {
  if (!(err instanceof Error)) return { error: String(err) };
  const extra = err as Error & { commandLine?: unknown; stderrTail?: unknown };
  return {
    error: err.message,
    errorName: err.name,
    ...(extra.commandLine !== undefined ? { commandLine: extra.commandLine } : {}),
    ...(extra.stderrTail !== undefined ? { stderrTail: extra.stderrTail } : {}),
  };
}

/** One JSON object per line, so logs stay greppable and machine-readable without a logging library. */
export function createLogger(
  base: LogFields = {},
  write: (line: string) => void = (l) => process.stdout.write(`${l}\n`),
): Logger {
  const emit = (level: string, msg: string, fields?: LogFields) =>
    write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields }));
  return {
    info: (msg, fields) => emit("info", msg, fields),
    warn: (msg, fields) => emit("warn", msg, fields),
    error: (msg, fields) => emit("error", msg, fields),
    child: (fields) => createLogger({ ...base, ...fields }, write),
  };
}
