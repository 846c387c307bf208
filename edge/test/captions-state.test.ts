import { describe, expect, it } from "vitest";
import { parseState } from "../src/play/state.ts";

describe("cached playback state with captions", () => {
  it("reads states cached before captions existed as having none", () => {
    expect(parseState(JSON.stringify({ visibility: "public", generation: 3 }))).toEqual({
      visibility: "public",
      generation: 3,
      live: false,
      captions: [],
      durationSeconds: null,
    });
  });

  it("keeps the tracks and duration of a current one; refuses malformed ones", () => {
    const state = {
      visibility: "private",
      generation: 1,
      live: false,
      captions: [{ language: "en", label: "English" }],
      durationSeconds: 12.5,
    };
    expect(parseState(JSON.stringify(state))).toEqual(state);
    expect(parseState(JSON.stringify({ ...state, captions: [{ language: "en" }] }))).toBeNull();
    expect(parseState("not json")).toBeNull();
  });
});
