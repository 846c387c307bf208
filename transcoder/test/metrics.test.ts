import { randomBytes } from "node:crypto";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics, METRICS_CONTENT_TYPE, REALTIME_FACTOR_BUCKETS } from "../src/metrics.ts";
import { createQueueDepth, type JobCountSource } from "../src/queue-depth.ts";
import { hasRedisServer, startRedis } from "./helpers/redis.ts";

/** A small exposition-format 0.0.4 reader: enough to check the rules Prometheus enforces on a scrape. */
function parse(text: string) {
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const samples: { name: string; labels: Record<string, string>; value: string }[] = [];
  expect(text.endsWith("\n")).toBe(true);
  for (const line of text.slice(0, -1).split("\n")) {
    if (line === "") continue; // blank lines between families are allowed (and ignored)
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (kind === "TYPE") {
        expect(types.has(name), `duplicate TYPE ${name}`).toBe(false);
        expect(["counter", "gauge", "histogram", "summary", "untyped"]).toContain(rest);
        types.set(name, rest);
      } else helps.add(name);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    expect(m, `bad sample line: ${line}`).not.toBeNull();
    const [, name, rawLabels = "", value] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    const labelRe = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/y;
    let pos = 0;
    while (pos < rawLabels.length) {
      labelRe.lastIndex = pos;
      const l = labelRe.exec(rawLabels);
      expect(l, `bad labels: ${rawLabels}`).not.toBeNull();
      const [whole, k, v] = l as unknown as [string, string, string];
      labels[k] = v.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
      pos += whole.length;
    }
    // Prometheus reads floats with Go's strconv.ParseFloat, which takes NaN and Inf in any case: prom-client
    // writes "Nan" for an event-loop lag with no samples yet.
    expect(value).toMatch(/^(NaN|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/i);
    const family = name.replace(/_(bucket|sum|count)$/, "");
    const type = types.get(name) ?? types.get(family);
    expect(type, `sample ${name} before its TYPE`).toBeDefined();
    expect(helps.has(name) || helps.has(family)).toBe(true);
    if (type === "counter") expect(name).toMatch(/_total$/);
    samples.push({ name, labels, value });
  }
  return { types, samples };
}

const value = (s: ReturnType<typeof parse>["samples"], name: string, labels: Record<string, string> = {}) =>
  s.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;

describe("metrics registry", () => {
  it("renders every family with HELP and TYPE, counters at zero before any job", async () => {
    const { types, samples } = parse(await createMetrics().render());
    expect(types.get("streamlet_transcoder_jobs_total")).toBe("counter");
    expect(types.get("streamlet_transcoder_encode_realtime_factor")).toBe("histogram");
    for (const outcome of ["completed", "failed", "cancelled", "handed_back"]) {
      expect(value(samples, "streamlet_transcoder_jobs_total", { outcome })).toBe("0");
    }
    const started = Date.now() / 1000 - process.uptime();
    expect(Math.abs(Number(value(samples, "process_start_time_seconds")) - started)).toBeLessThan(2);
    expect(value(samples, "streamlet_transcoder_up")).toBe("1");
    expect(value(samples, "streamlet_transcoder_jobs_in_progress")).toBe("0");
    for (const name of [
      "streamlet_transcoder_job_encode_fps",
      "streamlet_transcoder_job_realtime_factor",
      "streamlet_transcoder_encoder_info",
      "streamlet_transcoder_nvenc_sessions_in_use",
      "streamlet_transcoder_nvenc_session_limit",
      "streamlet_transcoder_queue_depth",
    ]) {
      expect(types.has(name), name).toBe(true);
    }
  });

  it("counts deferred jobs by reason, from zero, without touching the jobs in progress", async () => {
    const m = createMetrics();
    let parsed = parse(await m.render());
    expect(parsed.types.get("streamlet_transcoder_jobs_deferred_total")).toBe("counter");
    expect(
      value(parsed.samples, "streamlet_transcoder_jobs_deferred_total", { reason: "user_in_flight" }),
    ).toBe("0");
    m.jobDeferred("user_in_flight");
    m.jobDeferred("user_in_flight");
    parsed = parse(await m.render());
    expect(
      value(parsed.samples, "streamlet_transcoder_jobs_deferred_total", { reason: "user_in_flight" }),
    ).toBe("2");
    expect(m.jobsInProgress).toBe(0);
  });

  it("carries the standard process and Node.js metrics, under their standard names", async () => {
    const { types, samples } = parse(await createMetrics().render());
    for (const name of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "process_start_time_seconds",
      "nodejs_heap_size_used_bytes",
      "nodejs_eventloop_lag_seconds",
    ]) {
      expect(types.has(name), name).toBe(true);
      expect(value(samples, name), name).toBeDefined();
    }
    expect(samples.find((x) => x.name === "nodejs_version_info")?.labels.version).toBe(process.version);
    expect(METRICS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  it("tracks a job from start to end: the live gauges appear, then go, and the outcome is counted", async () => {
    const m = createMetrics();
    m.jobStarted("42");
    m.jobStats("42", { fps: 120.5, realtimeFactor: 4.02 });
    m.jobStats("unknown", { fps: 1 }); // a job never started is ignored, not invented
    let s = parse(await m.render()).samples;
    expect(m.jobsInProgress).toBe(1);
    expect(value(s, "streamlet_transcoder_job_encode_fps")).toBe("120.5");
    expect(value(s, "streamlet_transcoder_job_realtime_factor")).toBe("4.02");
    expect(value(s, "streamlet_transcoder_jobs_in_progress")).toBe("1");

    m.jobEnded("42", "completed", { encoder: "x264", realtimeFactor: 3 });
    s = parse(await m.render()).samples;
    expect(s.some((x) => x.name === "streamlet_transcoder_job_encode_fps")).toBe(false);
    expect(s.some((x) => x.name === "streamlet_transcoder_job_realtime_factor")).toBe(false);
    expect(value(s, "streamlet_transcoder_jobs_total", { outcome: "completed" })).toBe("1");
    expect(value(s, "streamlet_transcoder_jobs_in_progress")).toBe("0");
  });

  it("folds the running jobs' live figures into the slowest one's, with no per-job series", async () => {
    const m = createMetrics();
    m.jobStarted("1");
    m.jobStarted("2");
    m.jobStarted("3"); // no figures yet: left out, not counted as 0
    m.jobStats("1", { fps: 90, realtimeFactor: 3 });
    m.jobStats("2", { fps: 45, realtimeFactor: 0.8 });
    const s = parse(await m.render()).samples;
    expect(s.filter((x) => x.name === "streamlet_transcoder_job_encode_fps")).toEqual([
      { name: "streamlet_transcoder_job_encode_fps", labels: {}, value: "45" },
    ]);
    expect(s.filter((x) => x.name === "streamlet_transcoder_job_realtime_factor")).toEqual([
      { name: "streamlet_transcoder_job_realtime_factor", labels: {}, value: "0.8" },
    ]);
    expect(value(s, "streamlet_transcoder_jobs_in_progress")).toBe("3");
  });

  it("no metric carries a job id or a video id (unbounded series, and unlisted ids would leak)", async () => {
    const m = createMetrics({ queueDepth: async () => ({ waiting: 1, active: 1, delayed: 0, failed: 0 }) });
    m.setEncoder("nvenc", "probe_ok");
    m.setSessions(3, 8);
    m.jobStarted("job-77");
    m.jobStats("job-77", { fps: 60, realtimeFactor: 2 });
    m.jobStarted("job-78");
    m.jobEnded("job-78", "completed", { encoder: "nvenc", realtimeFactor: 5 });
    const text = await m.render();
    const { samples } = parse(text);
    expect(samples.length).toBeGreaterThan(20);
    for (const sample of samples) {
      expect(Object.keys(sample.labels), sample.name).not.toContain("job_id");
      expect(Object.keys(sample.labels), sample.name).not.toContain("video_id");
    }
    expect(text).not.toContain("job-77");
    expect(text).not.toContain("job-78");
  });

  it("keeps a cumulative realtime-factor histogram per encoder", async () => {
    const m = createMetrics();
    for (const [id, rtf] of [
      ["1", 0.3],
      ["2", 3],
      ["3", 100],
    ] as const) {
      m.jobStarted(id);
      m.jobEnded(id, "completed", { encoder: "nvenc", realtimeFactor: rtf });
    }
    m.jobStarted("4");
    m.jobEnded("4", "failed", { encoder: "nvenc" }); // no factor: counted, not observed
    const s = parse(await m.render()).samples;
    const buckets = s.filter((x) => x.name === "streamlet_transcoder_encode_realtime_factor_bucket");
    expect(buckets.map((b) => b.labels.le)).toEqual([...REALTIME_FACTOR_BUCKETS.map(String), "+Inf"]);
    const counts = buckets.map((b) => Number(b.value));
    expect(counts).toEqual([...counts].sort((a, b) => a - b)); // cumulative
    expect(value(s, "streamlet_transcoder_encode_realtime_factor_bucket", { le: "0.5" })).toBe("1");
    expect(value(s, "streamlet_transcoder_encode_realtime_factor_bucket", { le: "4" })).toBe("2");
    expect(value(s, "streamlet_transcoder_encode_realtime_factor_bucket", { le: "+Inf" })).toBe("3");
    expect(value(s, "streamlet_transcoder_encode_realtime_factor_count", { encoder: "nvenc" })).toBe("3");
    expect(value(s, "streamlet_transcoder_encode_realtime_factor_sum", { encoder: "nvenc" })).toBe("103.3");
    expect(value(s, "streamlet_transcoder_jobs_total", { outcome: "failed" })).toBe("1");
  });

  it("shows the encoder choice, NVENC sessions and queue depth", async () => {
    const m = createMetrics({
      queueDepth: async () => ({ waiting: 5, active: 2, delayed: 1, failed: 0 }),
      up: () => false,
    });
    m.setEncoder("x264", "no_nvenc_device");
    m.setEncoder("nvenc", "probe_ok"); // the latest choice replaces the earlier one
    m.setSessions(3, 8);
    const s = parse(await m.render()).samples;
    const info = s.filter((x) => x.name === "streamlet_transcoder_encoder_info");
    expect(info).toEqual([
      {
        name: "streamlet_transcoder_encoder_info",
        labels: { encoder: "nvenc", reason: "probe_ok" },
        value: "1",
      },
    ]);
    expect(value(s, "streamlet_transcoder_nvenc_sessions_in_use")).toBe("3");
    expect(value(s, "streamlet_transcoder_nvenc_session_limit")).toBe("8");
    expect(value(s, "streamlet_transcoder_queue_depth", { state: "waiting" })).toBe("5");
    expect(value(s, "streamlet_transcoder_queue_depth", { state: "delayed" })).toBe("1");
    expect(value(s, "streamlet_transcoder_up")).toBe("0");
  });

  it("leaves queue depth out rather than failing the scrape when Redis does not answer", async () => {
    const m = createMetrics({ queueDepth: () => Promise.reject(new Error("down")) });
    const s = parse(await m.render()).samples;
    expect(s.some((x) => x.name === "streamlet_transcoder_queue_depth")).toBe(false);
  });

  it("escapes label values (backslash, quote, newline) and ignores non-finite figures", async () => {
    const m = createMetrics();
    m.setEncoder("x264", 'Cannot load "libcuda.so.1"\nC:\\x');
    m.jobStarted("j");
    m.jobStats("j", { fps: Number.NaN, realtimeFactor: 2 }); // NaN is ignored, not exported
    expect(await m.render()).toContain(
      'streamlet_transcoder_encoder_info{encoder="x264",reason="Cannot load \\"libcuda.so.1\\"\\nC:\\\\x"} 1',
    );
    const s = parse(await m.render()).samples;
    expect(value(s, "streamlet_transcoder_encoder_info")).toBe("1");
    expect(s.find((x) => x.name === "streamlet_transcoder_encoder_info")?.labels.reason).toBe(
      'Cannot load "libcuda.so.1"\nC:\\x',
    );
    expect(value(s, "streamlet_transcoder_job_realtime_factor")).toBe("2");
    expect(s.some((x) => x.name === "streamlet_transcoder_job_encode_fps")).toBe(false);
  });
});

describe("queue depth", () => {
  const counts = { waiting: 4, active: 1, delayed: 0, failed: 2, completed: 99 };

  it("asks for the four states, keeps only those, and caches within the window", async () => {
    let calls = 0;
    let asked: string[] = [];
    let t = 0;
    const source: JobCountSource = {
      getJobCounts: async (...states) => {
        calls++;
        asked = states;
        return counts;
      },
    };
    const depth = createQueueDepth(source, { cacheMs: 2000, now: () => t });
    expect(await depth()).toEqual({ waiting: 4, active: 1, delayed: 0, failed: 2 });
    expect(asked).toEqual(["waiting", "active", "delayed", "failed"]);
    t = 1999;
    await depth();
    expect(calls).toBe(1);
    t = 2000;
    await depth();
    expect(calls).toBe(2);
  });

  it("answers null after the timeout and keeps only one Redis call outstanding", async () => {
    let calls = 0;
    let release: (v: Record<string, number>) => void = () => {};
    const source: JobCountSource = {
      getJobCounts: () => {
        calls++;
        return new Promise((resolve) => {
          release = resolve;
        });
      },
    };
    const depth = createQueueDepth(source, { timeoutMs: 20 });
    expect(await depth()).toBeNull();
    expect(await depth()).toBeNull();
    expect(calls).toBe(1);
    release(counts);
    await new Promise((r) => setTimeout(r, 0));
    expect(await depth()).toEqual({ waiting: 4, active: 1, delayed: 0, failed: 2 });
    expect(calls).toBe(1);
  });

  it("answers null, not a rejection, when Redis errors", async () => {
    const depth = createQueueDepth({ getJobCounts: () => Promise.reject(new Error("ECONNREFUSED")) });
    expect(await depth()).toBeNull();
  });
});

describe.skipIf(!hasRedisServer)("queue depth from a real BullMQ queue", () => {
  let redis: Awaited<ReturnType<typeof startRedis>>;
  let queue: Queue;

  beforeAll(async () => {
    redis = await startRedis();
    queue = new Queue(`metrics-test-${randomBytes(4).toString("hex")}`, { connection: { url: redis.url } });
  }, 30_000);

  afterAll(async () => {
    await queue?.obliterate({ force: true }).catch(() => {});
    await queue?.close();
    await redis?.stop();
  });

  it("renders waiting and delayed jobs as the queue reports them", async () => {
    await queue.add("t", { n: 1 });
    await queue.add("t", { n: 2 });
    await queue.add("t", { n: 3 }, { delay: 60_000 });
    const m = createMetrics({ queueDepth: createQueueDepth(queue) });
    const s = parse(await m.render()).samples;
    expect(value(s, "streamlet_transcoder_queue_depth", { state: "waiting" })).toBe("2");
    expect(value(s, "streamlet_transcoder_queue_depth", { state: "delayed" })).toBe("1");
    expect(value(s, "streamlet_transcoder_queue_depth", { state: "active" })).toBe("0");
    expect(value(s, "streamlet_transcoder_queue_depth", { state: "failed" })).toBe("0");
  });
});
