import { openAsBlob, statSync } from "node:fs";
import type { CreateVideoResponse, Video } from "@streamlet/shared";
import { createApiClient } from "@streamlet/shared/api-client";
import {
  type SubscribeOptions,
  subscribeToProgress,
  type TerminalEvent,
  type WaitOptions,
  waitForTerminalEvent,
} from "@streamlet/shared/progress-client";
import { type UploadOptions, uploadSource } from "@streamlet/shared/upload-client";
import WebSocket from "ws";

export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(status: number, body: unknown) {
    super(`HTTP ${status}: ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

/** Unwraps an openapi-fetch result: the parsed body, or an ApiError with the status and the error body. */
async function ok<T>(result: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await result;
  if (!response.ok) throw new ApiError(response.status, error ?? null);
  return data as T;
}

/**
 * A small client for the edge API, used exactly as a browser would: the typed client frontends use
 * (@streamlet/shared/api-client), JSON bodies, bearer tokens.
 */
export function apiClient(baseUrl: string) {
  let token: string | undefined;
  const api = createApiClient({ baseUrl, getToken: () => token });
  return {
    /** The typed client underneath (every route in the OpenAPI document), with this client's token. */
    api,
    useToken(t: string | undefined) {
      token = t;
    },
    /** The access token from signup (the progress socket offers it as a subprotocol). */
    accessToken(): string {
      if (!token) throw new Error("sign up first: no access token");
      return token;
    },
    async signup(email: string, password: string) {
      const auth = await ok(api.POST("/v1/auth/signup", { body: { email, password } }));
      token = auth.accessToken;
      return auth;
    },
    async login(email: string, password: string) {
      const auth = await ok(api.POST("/v1/auth/login", { body: { email, password } }));
      token = auth.accessToken;
      return auth;
    },
    /** Trades a refresh token for new tokens; the one presented stops working, so keep the new one. */
    async refresh(refreshToken: string) {
      const auth = await ok(api.POST("/v1/auth/refresh", { body: { refreshToken } }));
      token = auth.accessToken;
      return auth;
    },
    /** Creates a video for the file at `file` (its size is declared) or of `file` bytes. */
    createVideo: (title: string, file: string | number, description?: string) =>
      ok(
        api.POST("/v1/videos", {
          body: {
            title,
            description,
            upload: { size: typeof file === "number" ? file : statSync(file).size },
          },
        }),
      ),
    /** Uploads the file as the created video's ticket says (one PUT or parts), streamed from disk. */
    async upload(
      created: CreateVideoResponse,
      file: string,
      opts: Omit<UploadOptions, "api" | "videoId" | "ticket" | "file"> = {},
    ) {
      if (!created.upload) throw new Error("this video has no upload (it is imported from a URL)");
      return uploadSource({
        ...opts,
        api,
        videoId: created.video.id,
        ticket: created.upload,
        file: await openAsBlob(file),
      });
    },
    markUploaded: (id: string) => ok(api.POST("/v1/videos/{id}/uploaded", { params: { path: { id } } })),
    getVideo: (id: string) => ok(api.GET("/v1/videos/{id}", { params: { path: { id } } })),
  };
}

/** A client signed up as a new user (a random address with `label` in it), as the tests and demos want one. */
export async function signedUpClient(baseUrl: string, label = "user") {
  const client = apiClient(baseUrl);
  const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  await client.signup(`${label}-${suffix}@example.com`, "a long enough password");
  return client;
}

/** Polls a video until it leaves the queue/processing states, reporting each status change. */
export async function waitForTerminal(
  client: ReturnType<typeof apiClient>,
  id: string,
  opts: { timeoutMs?: number; onStatus?: (v: Video) => void } = {},
) {
  const deadline = Date.now() + (opts.timeoutMs ?? 10 * 60_000);
  let last = "";
  while (Date.now() < deadline) {
    const video = await client.getVideo(id);
    if (video.status !== last) {
      last = video.status;
      opts.onStatus?.(video);
    }
    if (video.status === "ready" || video.status === "failed") return video;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`video ${id} still ${last} after ${opts.timeoutMs ?? 600_000} ms`);
}

/** Subscribes to a video's live progress from Node (the `ws` package as the WebSocket), as a browser would. */
export function watchProgress(
  baseUrl: string,
  videoId: string,
  accessToken: string,
  opts: Omit<SubscribeOptions, "baseUrl" | "videoId" | "accessToken" | "WebSocket">,
) {
  return subscribeToProgress({ ...opts, baseUrl, videoId, accessToken, WebSocket });
}

/** Resolves with the video's ready/failed progress event (joining late is fine: the snapshot has it). */
export function waitForProgressEnd(
  baseUrl: string,
  videoId: string,
  accessToken: string,
  opts: Omit<WaitOptions, "baseUrl" | "videoId" | "accessToken" | "WebSocket"> = {},
): Promise<TerminalEvent> {
  return waitForTerminalEvent({ timeoutMs: 10 * 60_000, ...opts, baseUrl, videoId, accessToken, WebSocket });
}
