import { describe, expect, it } from "vitest";
import { CreateChannelBody, CreateVideoBody, UpdateChannelBody, UpdateVideoBody } from "../src/index.ts";
import { multiLineText, singleLineText } from "../src/text.ts";

const controls = ["\u0000", "\u0001", "\u0007", "\u001b", "\u007f", "\u0085", "\u009f"];

describe("text schemas", () => {
  it("refuse NUL and other control characters on one line, tab and line breaks included", () => {
    const title = singleLineText(200);
    expect(title.parse("  Hello, wörld ✓ ")).toBe("Hello, wörld ✓");
    for (const bad of [...controls, "\t", "\n", "\r"]) {
      expect(title.safeParse(`a${bad}b`).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it("allow tab, CR and LF in multi-line text and refuse every other control character", () => {
    const description = multiLineText(5000);
    expect(description.parse("line one\r\n\tline two\n")).toBe("line one\r\n\tline two\n");
    for (const bad of controls) {
      expect(description.safeParse(`a${bad}b`).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it("apply to video and channel bodies", () => {
    const upload = { size: 1 };
    expect(CreateVideoBody.safeParse({ title: "a\u0000b", upload }).success).toBe(false);
    expect(CreateVideoBody.safeParse({ title: "ok", description: "x\u0000", upload }).success).toBe(false);
    expect(CreateVideoBody.safeParse({ title: "ok", description: "x\ny", upload }).success).toBe(true);
    expect(
      CreateVideoBody.safeParse({ title: "ok", upload: { size: 1, fileName: "a\u0000.mp4" } }).success,
    ).toBe(false);
    expect(UpdateVideoBody.safeParse({ title: "\u0000" }).success).toBe(false);
    expect(UpdateVideoBody.safeParse({ description: "\u0000" }).success).toBe(false);
    expect(CreateChannelBody.safeParse({ handle: "abc", name: "n\u0000" }).success).toBe(false);
    expect(CreateChannelBody.safeParse({ handle: "abc", name: "n", description: "\u0000" }).success).toBe(
      false,
    );
    expect(UpdateChannelBody.safeParse({ name: "a\u001bb" }).success).toBe(false);
  });
});
