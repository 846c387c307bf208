import type { OriginShield } from "./origin-shield.ts";

/**
 * The Worker's side of the origin shield (origin-shield.ts), apart from the Durable Object class so the
 * app's modules need no "cloudflare:workers" import (the OpenAPI generator loads them in Node).
 */

/** The shield's name for `videoId` in data centre `colo` (request.cf.colo; "local" under wrangler dev). */
export function shieldName(colo: string, videoId: string): string {
  return `${colo}:${videoId}`;
}

/** Reads `key` of `videoId` through the shield of this data centre. */
export async function readThroughShield(
  namespace: DurableObjectNamespace<OriginShield>,
  colo: string,
  videoId: string,
  key: string,
): Promise<Response | null> {
  const shield = namespace.get(namespace.idFromName(shieldName(colo, videoId)));
  try {
    return await shield.read(key);
  } catch (error) {
    // The storage error (or the timeout) as it happened in the shield, named for the caller's log.
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`origin shield ${shieldName(colo, videoId)}: ${reason}`, { cause: error });
  }
}
