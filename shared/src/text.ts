import { z } from "zod";

// C0 controls, DEL and C1 controls; the multi-line variant allows tab, line feed and carriage return.
// Matching control characters is the point of these two patterns.
// biome-ignore lint/suspicious/noControlCharactersInRegex: the pattern exists to refuse control characters
const SINGLE_LINE_FORBIDDEN = /^[^\u0000-\u001F\u007F-\u009F]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the pattern exists to refuse control characters
const MULTI_LINE_FORBIDDEN = /^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$/;

/**
 * Text a person typed on one line (a title, a name): control characters are refused, since Postgres text
 * cannot hold NUL and no legitimate title contains the others. The pattern shows up in the OpenAPI document.
 */
export const singleLineText = (max: number) =>
  z
    .string()
    .trim()
    .min(1, { message: "must not be blank" })
    .max(max, { message: `must be at most ${max} characters` })
    .regex(SINGLE_LINE_FORBIDDEN, { message: "must not contain control characters" });

/**
 * Text that may span lines (a description, a comment): tab, CR and LF allowed, other control characters
 * refused. `required` trims it first and refuses a blank one (a comment).
 */
export const multiLineText = (max: number, { required = false }: { required?: boolean } = {}) => {
  const base = required ? z.string().trim().min(1, { message: "must not be blank" }) : z.string();
  return base.max(max, { message: `must be at most ${max} characters` }).regex(MULTI_LINE_FORBIDDEN, {
    message: "must not contain control characters other than tab and line breaks",
  });
};
