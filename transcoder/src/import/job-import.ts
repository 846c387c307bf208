import type { StreamUploader } from "../storage.ts";
import type { AddressPolicy } from "./address-policy.ts";
import { importSource, storageSink } from "./import-source.ts";

/** What a job asks of an import: the URL, where the source goes, its byte limit; progress as it runs. */
export interface ImportRequest {
  url: string;
  key: string;
  maxBytes: number;
  signal: AbortSignal;
  onProgress: (bytes: number, total: number | null) => void;
}

/** Imports a job's source; resolves with the bytes stored, or null when an earlier attempt stored it. */
export type SourceImporter = (request: ImportRequest) => Promise<number | null>;

/**
 * The node's importer: the source is downloaded (SSRF-checked, see import-source.ts) straight into
 * storage under the job's source key, once: a later attempt of the same job finds it there and goes on.
 */
export function sourceImporter(
  storage: StreamUploader,
  settings: { policy: AddressPolicy; timeoutMs: number },
): SourceImporter {
  return async ({ url, key, maxBytes, signal, onProgress }) => {
    if (await storage.exists(key, signal)) return null;
    const { bytes } = await importSource({
      url,
      signal,
      limits: { maxBytes, timeoutMs: settings.timeoutMs },
      policy: settings.policy,
      sink: storageSink(storage, key),
      onProgress,
    });
    return bytes;
  };
}
