import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../config.ts";
import { Storage } from "../storage.ts";
import { Flights } from "./single-flight.ts";

/**
 * The origin shield of one video in one data centre: every storage read of the video's delivered files
 * that the data centre's isolates make on a cache miss goes through this object, which shares concurrent
 * reads of one key (Flights). Each isolate first shares its own viewers' misses (single-flight.ts), so
 * a burst of viewers on many machines of one data centre reaches storage once per object.
 *
 * One object per video and data centre (`shieldName`, shield-read.ts): Cloudflare creates a Durable
 * Object near the request that first reaches it, so a data centre's shield runs in or near it and a miss
 * does not cross the world; each object handles one video's misses, apart from other videos'.
 * The object keeps nothing: no storage, only the reads in flight.
 */
export class OriginShield extends DurableObject<Env> {
  readonly #flights = new Flights();
  #storageReads = 0;

  /** Storage reads this object has made (tests read it through runInDurableObject). */
  get storageReads(): number {
    return this.#storageReads;
  }

  /**
   * The object at `key` (a key below the video's output prefix) as storage has it, or null when it is
   * missing; throws when storage fails or another caller's read of it hangs past the flight's deadline.
   * RPC from the Worker's play route only.
   */
  read(key: string): Promise<Response | null> {
    const config = loadConfig(this.env);
    return this.#flights.share(
      key,
      async () => {
        this.#storageReads += 1;
        return new Storage(config.s3).get(key);
      },
      { waitUntil: (promise) => this.ctx.waitUntil(promise) },
    );
  }
}
