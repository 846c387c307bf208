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
