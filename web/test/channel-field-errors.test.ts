import { describe, expect, it } from "vitest";
import { fieldErrors } from "../src/channels/field-errors.ts";
import { ApiError } from "../src/lib/errors.ts";

const LABELS = { handle: "Handle", name: "Name", description: "Description" };

describe("fieldErrors", () => {
  it("puts each field the edge's 400 names beside that field", () => {
    const error = new ApiError(
      400,
      "invalid_request",
      "invalid body: handle: must be 3-30 letters, digits or underscores; name: must not be blank",
    );
    expect(fieldErrors(error, LABELS)).toEqual({
      fields: {
        handle: "Handle must be 3-30 letters, digits or underscores.",
        name: "Name must not be blank.",
      },
      rest: null,
    });
  });

  it("says a taken handle on the handle field", () => {
    const error = new ApiError(409, "handle_taken", "the handle cooking is taken");
    expect(fieldErrors(error, LABELS)).toEqual({
      fields: { handle: "That handle is taken: choose another one." },
      rest: null,
    });
  });

  it("leaves the whole error for the form when part of it names no field it has", () => {
    const error = new ApiError(
      400,
      "invalid_request",
      "invalid body: handle: too short; Unrecognized key: x",
    );
    const split = fieldErrors(error, { name: "Name" });
    expect(split.fields).toEqual({});
    expect(split.rest).toBe(error);
    // A form without a handle field keeps handle_taken for itself too.
    expect(fieldErrors(new ApiError(409, "handle_taken", "taken"), { name: "Name" }).rest).toBeInstanceOf(
      ApiError,
    );
  });

  it("leaves other errors alone", () => {
    const offline = new TypeError("Failed to fetch");
    expect(fieldErrors(offline, LABELS)).toEqual({ fields: {}, rest: offline });
    const conflict = new ApiError(409, "channel_exists", "you already have a channel");
    expect(fieldErrors(conflict, LABELS).rest).toBe(conflict);
  });
});
