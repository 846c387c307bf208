import { z } from "@hono/zod-openapi";
import { AuthTokens, CreateVideoResponse, ErrorEnvelope, Video, VideoList } from "@streamlet/shared";

// Named copies of the shared schemas: same validation, plus a components/schemas entry in /openapi.json.
export const ErrorSchema = ErrorEnvelope.openapi("Error");
export const VideoSchema = Video.openapi("Video");
export const AuthTokensSchema = AuthTokens.openapi("AuthTokens");
export const CreateVideoResponseSchema = CreateVideoResponse.openapi("CreateVideoResponse");
export const VideoListSchema = VideoList.openapi("VideoList");
export const VideoEnvelopeSchema = z.object({ video: VideoSchema }).openapi("VideoEnvelope");

/** Security requirement for routes that need a user's access token. */
export const userSecurity = [{ bearerAuth: [] }];
/** Security requirement for the transcoder's internal routes. */
export const transcoderSecurity = [{ transcoderSecret: [] }];

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
