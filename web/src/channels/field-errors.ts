/**
 * Which form field an API error is about, so a form can say it beside the field: the edge's 400
 * `invalid_request` names each bad field ("invalid body: handle: must be …; name: …") and 409
 * `handle_taken` is about the handle. Whatever names no known field is left for the form as a whole.
 */
import { ApiError } from "../lib/errors.ts";

export interface FieldErrors<F extends string> {
  /** A sentence per field, e.g. { handle: "Handle must be 3-30 letters, digits or underscores." }. */
  fields: Partial<Record<F, string>>;
  /** The error when some of it names no field (the form shows it as a whole), else null. */
  rest: unknown;
}

/** Splits an API error into sentences for the fields in `labels` (field name → its label) and the rest. */
export function fieldErrors<F extends string>(error: unknown, labels: Record<F, string>): FieldErrors<F> {
  const fields: Partial<Record<string, string>> = {};
  const known = (name: string | undefined): name is F => name !== undefined && Object.hasOwn(labels, name);
  if (error instanceof ApiError && error.code === "handle_taken" && known("handle")) {
    fields.handle = "That handle is taken: choose another one.";
    return { fields, rest: null };
  }
  if (!(error instanceof ApiError) || error.code !== "invalid_request") return { fields, rest: error };
  let unplaced = false;
  for (const problem of error.message.replace(/^invalid body:\s*/, "").split("; ")) {
    const [, name, message] = /^(\w+): (.+)$/.exec(problem.trim()) ?? [];
    if (known(name) && message) fields[name] ??= `${labels[name]} ${message.replace(/\.?$/, ".")}`;
    else unplaced = true;
  }
  return { fields, rest: unplaced ? error : null };
}
