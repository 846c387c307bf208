import { z } from "zod";

/** Every 4xx/5xx body from the edge has this shape, so clients need one error path. */
export const ErrorEnvelope = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
  }),
});
export type ErrorEnvelope = z.infer<typeof ErrorEnvelope>;
