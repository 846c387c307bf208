/**
 * Why a URL import failed. The message is written for the user (it becomes the video's failure
 * reason); `transient` says whether a later attempt may succeed, as StorageError's does; `detail`
 * carries what only the operator should see (resolved addresses, the underlying error code).
 */

export type ImportErrorCode =
  /** Not a URL, or one with a user name or password. */
  | "invalid_url"
  /** A scheme other than http: or https: (on the first URL or a redirect). */
  | "unsupported_scheme"
  /** A private, loopback, link-local, metadata… address, or a refused port. */
  | "url_forbidden"
  /** The host name does not exist (DNS). */
  | "host_not_found"
  /** The server answered 404 or 410. */
  | "url_not_found"
  /** Any other non-2xx answer (or a redirect without a Location). */
  | "http_status"
  /** Declared or streamed beyond the size limit. */
  | "too_large"
  /** More redirects than allowed. */
  | "too_many_redirects"
  /** The overall deadline (permanent) or the idle timeout (transient). */
  | "timeout"
  /** The HTTPS certificate or handshake was refused. */
  | "tls_error"
  /** No connection, a cut connection, or a response that is not HTTP. */
  | "unreachable";

export class ImportError extends Error {
  override name = "ImportError";
  readonly code: ImportErrorCode;
  readonly transient: boolean;
  readonly detail: string | undefined;

  constructor(
    code: ImportErrorCode,
    message: string,
    transient: boolean,
    options?: ErrorOptions & { detail?: string },
  ) {
    super(message, options);
    this.code = code;
    this.transient = transient;
    this.detail = options?.detail;
  }
}

/** Whether a failed import is worth another attempt (5xx, 408, 429, cut or refused connections, stalls). */
export function isTransientImportError(err: unknown): boolean {
  return err instanceof ImportError && err.transient;
}

/** Sizes as the user reads them, in decimal units: "50 GB", "1.5 MB", "900 bytes". */
export function formatBytes(bytes: number): string {
  const units: [number, string][] = [
    [1e12, "TB"],
    [1e9, "GB"],
    [1e6, "MB"],
    [1e3, "kB"],
  ];
  for (const [size, unit] of units) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} bytes`;
}

/** Durations as the user reads them: "2 h", "90 s", "1.5 s". */
export function formatDuration(ms: number): string {
  if (ms >= 3_600_000 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Number((ms / 1000).toFixed(1))} s`;
}
