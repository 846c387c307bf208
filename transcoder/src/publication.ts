import { mkdtemp, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import {
  AUDIO_FOLDER,
  contentTypeFor,
  INIT_SEGMENT,
  MASTER_PLAYLIST,
  outputPrefix,
  type Rendition,
  segmentName,
  VARIANT_PLAYLIST,
} from "@streamlet/shared";
import type { ChunkDone, DoneSegment } from "./chunked/types.ts";
import {
  AAC_LC,
  AUDIO_BITRATE,
  AUDIO_CHANNELS,
  type AudioSegment,
  type ChunkPlan,
  contiguousPrefix,
  type MasterInput,
  measureSegments,
  type PlannedRung,
  parseAvcInit,
  provisionalMasterPlaylist,
  type StoredSegment,
  targetDuration,
  toNumber,
  toRenditions,
  variantPlaylist,
  writeMasterPlaylist,
} from "./media/index.ts";
import type { Storage } from "./storage.ts";

/**
 * A video's playlists while its chunks land (MEDIA.md "Watching while it is still processing"): each
 * rung's and the audio's EVENT playlist lists its contiguous stored prefix and is rewritten as that
 * grows; the master playlist (planned bandwidths) is written once every rung and the audio have their
 * first segment, which is when the video becomes playable; `finish` turns every playlist into VOD and
 * writes the measured master last. One writer per video (the coordinator), calls serialised here.
 */
export interface Publication {
  /** A chunk's segments are stored (any order; a chunk reported twice is ignored). */
  chunkDone(done: ChunkDone): Promise<void>;
  /** An audio segment is stored (in order), with the audio's init before the first. */
  audioSegment(segment: Pick<AudioSegment, "number" | "durationSeconds"> & { bytes: number }): Promise<void>;
  /**
   * Every segment is stored: the ladder as it will be published (what the checks before publishing read
   * back from storage), with each rung as its init says it was written. Throws while segments are missing.
   */
  describe(): Promise<PublishedLadder>;
  /**
   * Every segment is stored and checked: VOD playlists, then the measured master (with the rungs' I-frame
   * playlists when given) last.
   */
  finish(extras?: MasterExtras): Promise<{ renditions: Rendition[]; durationSeconds: number }>;
  /** Whether the master playlist is out (the video is playable). */
  readonly playable: boolean;
}

/** One published track (a rung or the audio): its folder and its segments in order. */
export interface PublishedTrack {
  name: string;
  segments: { number: number; durationSeconds: number; bytes: number }[];
}

/** A video rung as published: its track and what its init says. */
export interface PublishedRung extends PublishedTrack {
  width: number;
  height: number;
  codecs: string;
  frameRate: number;
}

/** The ladder once every segment is stored (Publication.describe). */
export interface PublishedLadder {
  rungs: PublishedRung[];
  audio: PublishedTrack | null;
  /** EXT-X-TARGETDURATION of the rungs' VOD playlists. */
  targetSeconds: number;
}

/** What the measured master adds besides the rungs: their I-frame playlists (by rung name). */
export interface MasterExtras {
  iframes?: MasterInput["iframes"];
}

export interface PublicationInput {
  videoId: string;
  storage: Storage;
  rungs: readonly PlannedRung[];
  plan: ChunkPlan;
  hasAudio: boolean;
  /** Where the rungs' inits are read back to for CODECS (a temp folder of the job). */
  workDir: string;
  signal?: AbortSignal;
  /** The master playlist is out: the video can be played from the start. */
  onPlayable?: () => void;
  /** A rung's (or the audio's) published prefix grew to `segments`. */
  onPublished?: (name: string, segments: number) => void;
}

const PLAYLIST_TYPE = contentTypeFor(VARIANT_PLAYLIST);

export function createPublication(input: PublicationInput): Publication {
  const { storage, plan, signal } = input;
  const prefix = outputPrefix(input.videoId);
  const plannedMax = Math.max(...plan.segments.map((s) => s.durationSeconds));
  // The plan's count, until the last chunk says the source ended a few frames early (encode-chunk.ts).
  let total = plan.segments.length;
  const stored = new Map(input.rungs.map((r) => [r.name, new Map<number, DoneSegment>()]));
  const published = new Map<string, number>([...input.rungs.map((r) => [r.name, 0] as const)]);
  const chunksSeen = new Set<number>();
  const initHashes = new Map<string, string>();
  const audio: (StoredSegment & { bytes: number })[] = [];
  let audioPublished = 0;
  let codecs: Map<string, { codecs: string; width: number; height: number }> | null = null;
  let masterOut = false;
  // Calls run one after another: playlists must only grow, in the order their segments were stored.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work);
    queue = next.catch(() => undefined);
    return next;
  };

  const put = (key: string, body: string) => storage.putBody(`${prefix}${key}`, body, PLAYLIST_TYPE, signal);

  /** Reads each rung's init back from storage (chunk 1 stored it) for the CODECS and RESOLUTION it says. */
  async function readCodecs() {
    const dir = await mkdtemp(join(input.workDir, "inits-"));
    try {
      const found = new Map<string, { codecs: string; width: number; height: number }>();
      for (const rung of input.rungs) {
        const file = join(dir, rung.name);
        await storage.download(`${prefix}${rung.name}/${INIT_SEGMENT}`, file, signal);
        found.set(rung.name, parseAvcInit(new Uint8Array(await readFile(file))));
      }
      return found;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** A rung as its init says it was written (CODECS, RESOLUTION), at the plan's frame rate. */
  const written = (rung: PlannedRung) => {
    const init = codecs?.get(rung.name);
    if (!init) throw new Error(`rung ${rung.name}'s init was not read`);
    return {
      name: rung.name,
      width: init.width,
      height: init.height,
      codecs: init.codecs,
      frameRate: toNumber(plan.fps),
    };
  };

  const segmentsOf = (rung: string, count: number): StoredSegment[] => {
    const map = stored.get(rung) as Map<number, DoneSegment>;
    return Array.from({ length: count }, (_, i) => {
      const s = map.get(i + 1) as DoneSegment;
      return { number: s.index, durationSeconds: s.durationSeconds };
    });
  };

  async function flush(final: boolean) {
    for (const rung of input.rungs) {
      const count = contiguousPrefix(
        new Set((stored.get(rung.name) as Map<number, DoneSegment>).keys()),
        total,
      );
      if (count === (published.get(rung.name) ?? 0) && !final) continue;
      const complete = count === total;
      if (final && !complete) throw new Error(`rung ${rung.name} has ${count} of ${total} segments stored`);
      const text = variantPlaylist({
        segments: segmentsOf(rung.name, count),
        complete,
        plannedMaxSegmentSeconds: plannedMax,
      });
      await put(`${rung.name}/${VARIANT_PLAYLIST}`, text);
      published.set(rung.name, count);
      input.onPublished?.(rung.name, count);
    }
    // Audio segment k ends where video segment k does (process-job.ts joins the pieces so): the audio
    // lists no further than every rung's video, or players run the clock past the video on audio alone
    // and hls.js seeks back to its live edge, into segments it never loads (a stall it never leaves).
    const videoCount = Math.min(...input.rungs.map((r) => published.get(r.name) ?? 0));
    const audioCount = final ? audio.length : Math.min(audio.length, videoCount);
    if (input.hasAudio && (audioCount > audioPublished || final)) {
      await put(
        `${AUDIO_FOLDER}/${VARIANT_PLAYLIST}`,
        variantPlaylist({
          segments: audio.slice(0, audioCount),
          complete: final,
          plannedMaxSegmentSeconds: plannedMax,
        }),
      );
      audioPublished = audioCount;
      input.onPublished?.(AUDIO_FOLDER, audioCount);
    }
    const ready =
      input.rungs.every((r) => (published.get(r.name) ?? 0) > 0) && (!input.hasAudio || audioPublished > 0);
    if (!masterOut && ready && !final) {
      codecs ??= await readCodecs();
      const master = provisionalMasterPlaylist({
        rungs: input.rungs.map((r) => ({
          ...written(r),
          maxBitrate: r.maxBitrate,
          videoBitrate: r.videoBitrate,
        })),
        audio: input.hasAudio ? { bitrate: AUDIO_BITRATE, channels: AUDIO_CHANNELS } : null,
      });
      await put(MASTER_PLAYLIST, master);
      masterOut = true;
      input.onPlayable?.();
    }
  }

  /**
   * A chunk must report exactly the segments this plan gives it (the last chunk may end early: a source
   * shorter than its header said): a node that planned the video differently (another version mid
   * upgrade) fails the video instead of publishing a playlist with holes or overlaps.
   */
  function checkPlanned(chunk: number, rung: string, segments: readonly { index: number }[]): void {
    const planned = plan.chunks[chunk - 1];
    const got = segments.map((seg) => seg.index);
    const want = planned
      ? Array.from({ length: planned.segmentCount }, (_, i) => planned.firstSegment + i)
      : [];
    const last = chunk === plan.chunks.length;
    const fits =
      got.length > 0 && got.every((index, i) => index === want[i]) && (last || got.length === want.length);
    if (!fits) {
      throw new Error(
        `chunk ${chunk} of rung ${rung} reports segments [${got.join(", ")}], the plan gives it [${want.join(", ")}] (nodes planning differently: mixed versions?)`,
      );
    }
  }

  return {
    get playable() {
      return masterOut;
    },

    chunkDone: (done) =>
      serial(async () => {
        if (chunksSeen.has(done.chunk)) return;
        for (const rung of done.rungs) {
          const map = stored.get(rung.rung);
          if (!map) throw new Error(`chunk ${done.chunk} reports an unknown rung ${rung.rung}`);
          checkPlanned(done.chunk, rung.rung, rung.segments);
          const known = initHashes.get(rung.rung);
          if (known !== undefined && known !== rung.initSha256) {
            throw new Error(`chunk ${done.chunk} of rung ${rung.rung} was encoded with a different init`);
          }
          initHashes.set(rung.rung, rung.initSha256);
          for (const segment of rung.segments) map.set(segment.index, segment);
        }
        if (done.chunk === plan.chunks.length) {
          const last = Math.max(...done.rungs.flatMap((r) => r.segments.map((seg) => seg.index)));
          if (Number.isFinite(last)) total = Math.min(total, last);
        }
        chunksSeen.add(done.chunk);
        await flush(false);
      }),

    audioSegment: (segment) =>
      serial(async () => {
        if (segment.number !== audio.length + 1) return; // reported again after a retry: already listed
        audio.push({
          number: segment.number,
          durationSeconds: segment.durationSeconds,
          bytes: segment.bytes,
        });
        await flush(false);
      }),

    describe: () =>
      serial(async () => {
        codecs ??= await readCodecs();
        const segmentsOfRung = (name: string) => {
          const map = stored.get(name) as Map<number, DoneSegment>;
          return Array.from({ length: total }, (_, i) => {
            const s = map.get(i + 1);
            if (!s) throw new Error(`rung ${name} has no segment ${i + 1} stored`);
            return { number: s.index, durationSeconds: s.durationSeconds, bytes: s.bytes };
          });
        };
        const rungs = input.rungs.map((r) => ({ ...written(r), segments: segmentsOfRung(r.name) }));
        return {
          rungs,
          audio: input.hasAudio
            ? { name: AUDIO_FOLDER, segments: audio.map((a) => ({ ...a, number: a.number })) }
            : null,
          targetSeconds: targetDuration(
            rungs.flatMap((r) => r.segments.map((seg) => seg.durationSeconds)),
            plannedMax,
          ),
        };
      }),

    finish: (extras) =>
      serial(async () => {
        await flush(true);
        codecs ??= await readCodecs();
        const measuredRungs: MasterInput["rungs"] = input.rungs.map((r) => {
          const segments = [...(stored.get(r.name) as Map<number, DoneSegment>).values()];
          const stats = measureSegments(
            segments.map((s) => ({ duration: s.durationSeconds, bytes: s.bytes })),
            Math.ceil(plannedMax),
          );
          return { ...written(r), peakBitrate: stats.peakBitrate, averageBitrate: stats.averageBitrate };
        });
        const audioStats = input.hasAudio
          ? measureSegments(
              audio.map((s) => ({ duration: s.durationSeconds, bytes: s.bytes })),
              Math.ceil(plannedMax),
            )
          : null;
        const master: MasterInput = {
          rungs: measuredRungs,
          audio: audioStats ? { ...audioStats, codecs: AAC_LC, channels: AUDIO_CHANNELS } : null,
          ...(extras?.iframes ? { iframes: extras.iframes } : {}),
        };
        // Last: once the measured master is out, everything it names is final.
        await put(MASTER_PLAYLIST, writeMasterPlaylist(master));
        const top = input.rungs[0] as PlannedRung;
        const durationSeconds = [...(stored.get(top.name) as Map<number, DoneSegment>).values()].reduce(
          (sum, s) => sum + s.durationSeconds,
          0,
        );
        return {
          renditions: toRenditions(master),
          durationSeconds: Math.round(durationSeconds * 1000) / 1000,
        };
      }),
  };
}

/** The storage key of an audio segment (uploaded by the coordinator as the audio encode reports it). */
export const audioSegmentKey = (videoId: string, number: number) =>
  `${outputPrefix(videoId)}${AUDIO_FOLDER}/${segmentName(number)}`;
