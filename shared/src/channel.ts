import { z } from "zod";
import { multiLineText, singleLineText } from "./text.ts";

/** A channel's handle: its address in URLs (/v1/channels/<handle>); lower case, compared lower case. */
export const ChannelHandle = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.string().regex(/^[a-z0-9_]{3,30}$/, { message: "must be 3-30 letters, digits or underscores" }));

const ChannelName = singleLineText(100);
const ChannelDescription = multiLineText(5000);

export const CreateChannelBody = z
  .object({ handle: ChannelHandle, name: ChannelName, description: ChannelDescription.optional() })
  .strict();
export type CreateChannelBody = z.infer<typeof CreateChannelBody>;

/** PATCH /v1/channels/:handle: name and/or description (null clears it); the handle never changes. */
export const UpdateChannelBody = z
  .object({ name: ChannelName.optional(), description: ChannelDescription.nullable().optional() })
  .strict()
  .refine((body) => body.name !== undefined || body.description !== undefined, {
    message: "give at least one of name, description",
  });
export type UpdateChannelBody = z.infer<typeof UpdateChannelBody>;

export const Channel = z.object({
  id: z.string(),
  handle: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  ownerId: z.string(),
  subscriberCount: z.number().int().nonnegative(),
  createdAt: z.string(),
});
export type Channel = z.infer<typeof Channel>;

/**
 * GET /v1/channels/:handle: the channel, plus `subscribed` (whether the caller subscribes to it) when the
 * request carries a valid access token; absent for anonymous callers.
 */
export const ChannelDetail = Channel.extend({ subscribed: z.boolean().optional() });
export type ChannelDetail = z.infer<typeof ChannelDetail>;

/** A channel as shown beside a video or a comment: enough to name it and link to /v1/channels/<handle>. */
export const ChannelRef = z.object({ handle: z.string(), name: z.string() });
export type ChannelRef = z.infer<typeof ChannelRef>;

export const ChannelList = z.object({
  channels: z.array(Channel),
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: z.string().nullable(),
});
export type ChannelList = z.infer<typeof ChannelList>;
