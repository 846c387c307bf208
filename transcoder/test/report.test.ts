import type { StatusReport } from "@streamlet/shared";
import { describe, expect, it } from "vitest";
import { EdgeRejectedError } from "../src/errors.ts";
import { createReporter } from "../src/report.ts";

function fakeFetch(answers: (number | Error)[]) {
  const calls: { url: string; init: RequestInit }[] = [];
  const fn = (async (url: string, init: RequestInit) => {
    calls.push({ url, init });
    const answer = answers[calls.length - 1] ?? 200;
    if (answer instanceof Error) throw answer;
    return new Response(answer === 200 ? "{}" : `{"error":{"code":"x","message":"nope ${answer}"}}`, {
      status: answer,
    });
  }) as unknown as typeof fetch;
  return { fn, calls };
}

const options = { edgeUrl: "http://edge.test/", secret: "0123456789abcdef", baseDelayMs: 1 };

describe("createReporter", () => {
  it("POSTs the report with the bearer secret to the internal status route", async () => {
    const { fn, calls } = fakeFetch([200]);
    await createReporter({ ...options, fetch: fn })("vid_1", { status: "processing" });
    expect(calls).toHaveLength(1);
    expect(calls[0]?.url).toBe("http://edge.test/v1/internal/videos/vid_1/status");
    expect(calls[0]?.init.method).toBe("POST");
    expect(new Headers(calls[0]?.init.headers).get("authorization")).toBe("Bearer 0123456789abcdef");
    expect(JSON.parse(String(calls[0]?.init.body))).toEqual({ status: "processing" });
  });

  it("retries network errors and 5xx", async () => {
    const { fn, calls } = fakeFetch([new TypeError("fetch failed"), 502, 200]);
    await createReporter({ ...options, fetch: fn })("v", {
      status: "failed",
      reason: "The uploaded file is empty (0 bytes)",
    });
    expect(calls).toHaveLength(3);
  });

  it("a 4xx is not retried and carries the response body", async () => {
    const { fn, calls } = fakeFetch([409]);
    const err = await createReporter({ ...options, fetch: fn })("v", { status: "processing" }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EdgeRejectedError);
    expect((err as EdgeRejectedError).message).toContain("nope 409");
    expect(calls).toHaveLength(1);
  });

  it("refuses to send a report that breaks the shared contract", async () => {
    const { fn, calls } = fakeFetch([200]);
    const bad: StatusReport = {
      status: "ready",
      durationSeconds: 0,
      sourceWidth: 1,
      sourceHeight: 1,
      renditions: [],
    };
    await expect(createReporter({ ...options, fetch: fn })("v", bad)).rejects.toThrow();
    expect(calls).toHaveLength(0);
  });
});
