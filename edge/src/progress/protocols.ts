import { BEARER_PROTOCOL_PREFIX } from "@streamlet/shared";

/** The subprotocols a WebSocket client offered in `Sec-WebSocket-Protocol` (comma-separated, in order). */
export function offeredProtocols(header: string | undefined | null): string[] {
  return (header ?? "")
    .split(",")
    .map((protocol) => protocol.trim())
    .filter((protocol) => protocol !== "");
}

/**
 * The access token a browser sent as the `bearer.<token>` subprotocol (browsers cannot set headers on a
 * WebSocket), or null. The token is only ever read here: it is never selected, echoed or logged.
 */
export function bearerFromProtocols(offered: readonly string[]): string | null {
  const entry = offered.find((protocol) => protocol.startsWith(BEARER_PROTOCOL_PREFIX));
  const token = entry?.slice(BEARER_PROTOCOL_PREFIX.length) ?? "";
  return token === "" ? null : token;
}
