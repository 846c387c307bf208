// Loaded first, so the clones below get .openapi() (see edge/src/openapi.ts on named schemas).
import "@hono/zod-openapi";
import { Channel, ChannelDetail, ChannelList } from "@streamlet/shared";

export const ChannelSchema = Channel.clone().openapi("Channel");
export const ChannelDetailSchema = ChannelDetail.clone().openapi("ChannelDetail");
export const ChannelListSchema = ChannelList.clone().openapi("ChannelList");
