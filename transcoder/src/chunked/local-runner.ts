import { type RunChunkDeps, runChunk, sourceFor } from "./run-chunk.ts";
import { ChunkJob, type ChunkRunner } from "./types.ts";

/**
 * The in-process ChunkRunner: every chunk in order, here, from the coordinator's source (chunk 1 over
 * its URL, the rest from its download). For single-process use and the coordinator's unit tests; no queue, no Redis.
 */
export function createLocalChunkRunner(deps: RunChunkDeps): ChunkRunner {
  return {
    async run(video, onDone, cancel, leave) {
      // In-process, stopping to wait is stopping the work.
      const signal = leave ? AbortSignal.any([cancel, leave]) : cancel;
      const { chunkCount, source, ...shared } = video;
      for (let chunk = 1; chunk <= chunkCount; chunk++) {
        signal.throwIfAborted();
        const job = ChunkJob.parse({ ...shared, chunk });
        const done = await runChunk(job, await sourceFor(job, source), deps, { signal });
        signal.throwIfAborted();
        await onDone(done);
      }
    },
  };
}
