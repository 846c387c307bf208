/** The API's shapes as the web app uses them, named once (generated from the edge's OpenAPI document). */
import type { components } from "@streamlet/shared/api-types";

type Schemas = components["schemas"];
export type AuthTokens = Schemas["AuthTokens"];
export type Video = Schemas["Video"];
export type VideoList = Schemas["VideoList"];
export type Channel = Schemas["Channel"];
export type Comment = Schemas["Comment"];
export type CommentList = Schemas["CommentList"];
export type ApiErrorBody = Schemas["Error"];
/** GET /v1/videos/:id: with a token, `viewer` (your reaction, ownership, subscription). */
export type VideoDetail = Schemas["VideoDetail"];
/** GET /v1/channels/:handle: with a token, whether you subscribe. */
export type ChannelDetail = Schemas["ChannelDetail"];
/** GET /v1/me: you and your channel. */
export type Me = Schemas["Me"];
/** A video's caption track (PUT /v1/videos/:id/captions/:language answers one). */
export type Caption = Schemas["Caption"];
/** GET /v1/videos/:id/download: where to fetch the MP4, for a short while. */
export type DownloadTicket = Schemas["DownloadTicket"];
export type Rendition = Video["renditions"][number];
