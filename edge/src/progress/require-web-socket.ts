import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../env.ts";
import { HttpError } from "../errors.ts";
import { offeredProtocols } from "./protocols.ts";

export type RequireWebSocketOptions = {
  /** The subprotocol the endpoint speaks: a client that offers subprotocols must offer this one. */
  protocol?: string;
};

/**
 * Admits only WebSocket upgrades (anything else: 426 upgrade_required) whose offered subprotocols, if
 * any, include ours (else 400 unsupported_protocol: the 101 could select none, and browsers would fail
 * the handshake anyway). Runs before authentication, so a plain GET learns nothing about the video.
 */
export function requireWebSocket(options: RequireWebSocketOptions = {}): MiddlewareHandler<AppEnv> {
  return async function requireWebSocket(c, next) {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new HttpError(426, "upgrade_required", "this endpoint only accepts a WebSocket upgrade", {
        Upgrade: "websocket",
      });
    }
    const offered = offeredProtocols(c.req.header("sec-websocket-protocol"));
    if (options.protocol !== undefined && offered.length > 0 && !offered.includes(options.protocol)) {
      throw new HttpError(400, "unsupported_protocol", `offer the "${options.protocol}" subprotocol`);
    }
    await next();
  };
}
