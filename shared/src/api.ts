import { z } from "zod";
import { multiLineText, singleLineText } from "./text.ts";
import { Video, Visibility } from "./video.ts";

export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254)
  .pipe(z.email({ message: "must be a valid email address" }));

export const Password = z
  .string()
  .min(10, { message: "must be at least 10 characters" })
  .max(256, { message: "must be at most 256 characters" });

export const SignupBody = z.object({ email: Email, password: Password }).strict();
export type SignupBody = z.infer<typeof SignupBody>;

export const LoginBody = z.object({ email: Email, password: z.string().min(1).max(256) }).strict();
export type LoginBody = z.infer<typeof LoginBody>;

export const AuthTokens = z.object({
  user: z.object({ id: z.string(), email: z.string() }),
  accessToken: z.string(),
  /** Seconds until the access token expires. */
  expiresIn: z.number().int(),
  refreshToken: z.string(),
});
export type AuthTokens = z.infer<typeof AuthTokens>;

export const CreateVideoBody = z
  .object({
    title: singleLineText(200),
    description: multiLineText(5000).optional(),
    visibility: Visibility.optional(),
  })
  .strict();
export type CreateVideoBody = z.infer<typeof CreateVideoBody>;

/** PATCH /v1/videos/:id: any of title, description (null clears it) and visibility; at least one. */
export const UpdateVideoBody = z
  .object({
    title: singleLineText(200).optional(),
    description: multiLineText(5000).nullable().optional(),
    visibility: Visibility.optional(),
  })
  .strict()
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: "give at least one of title, description, visibility",
  });
export type UpdateVideoBody = z.infer<typeof UpdateVideoBody>;

export const UploadTicket = z.object({
  url: z.string(),
  method: z.literal("PUT"),
  /** Headers the client must send with the PUT, exactly as given. */
  headers: z.record(z.string(), z.string()),
  expiresAt: z.string(),
});
export type UploadTicket = z.infer<typeof UploadTicket>;

export const CreateVideoResponse = z.object({ video: Video, upload: UploadTicket });
export type CreateVideoResponse = z.infer<typeof CreateVideoResponse>;

export const VideoList = z.object({
  videos: z.array(Video),
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: z.string().nullable(),
});
export type VideoList = z.infer<typeof VideoList>;

export const ListVideosQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
});
