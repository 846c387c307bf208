import { z } from "@hono/zod-openapi";
import {
  AuthTokens,
  CreateVideoResponse,
  ErrorEnvelope,
  Me,
  Video,
  VideoDetail,
  VideoList,
} from "@streamlet/shared";

/**
 * A named copy of a shared schema: same validation, plus a components/schemas entry in /openapi.json.
 * Cloned first: zod 4 gives a schema its methods when it is built, so one @streamlet/shared built before
 * this module loaded @hono/zod-openapi (a test importing shared first) has no .openapi(); its clone does.
 */
export function named<T extends z.ZodType>(schema: T, name: string) {
  return schema.clone().openapi(name);
}

export const ErrorSchema = named(ErrorEnvelope, "Error");
export const VideoSchema = named(Video, "Video");
export const VideoDetailSchema = named(VideoDetail, "VideoDetail");
export const MeSchema = named(Me, "Me");
export const AuthTokensSchema = named(AuthTokens, "AuthTokens");
export const CreateVideoResponseSchema = named(CreateVideoResponse, "CreateVideoResponse");
export const VideoListSchema = named(VideoList, "VideoList");
export const VideoEnvelopeSchema = z.object({ video: VideoSchema }).openapi("VideoEnvelope");

/** Security requirement for routes that need a user's access token. */
export const userSecurity = [{ bearerAuth: [] }];
/** Security requirement for the progress publisher: the transcoder's secret AND the job's progress token. */
export const progressPublisherSecurity = [{ transcoderSecret: [], progressToken: [] }];

/** A JSON response entry for createRoute. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** Error responses for createRoute: every one is the shared error envelope. */
export function errors<const S extends number>(entries: Record<S, string>) {
  const out = {} as Record<
    S,
    { description: string; content: { "application/json": { schema: typeof ErrorSchema } } }
  >;
  for (const [status, description] of Object.entries(entries) as [string, string][]) {
    out[Number(status) as S] = json(ErrorSchema, description);
  }
  return out;
}

/** A required JSON request body for createRoute (an absent body fails validation instead of passing as {}). */
export function jsonBody<T extends z.ZodType>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}
