import type { ReactionValue, VideoStats } from "@streamlet/shared";
import type { Context } from "hono";
import type { AppEnv } from "../env.ts";
import { loggable } from "../errors.ts";
import { withOpenedStore } from "./open-store.ts";
import type { EngagementStore } from "./store.ts";

/** Views, likes, dislikes and comments of each video (an entry for every id; zeros where nothing). */
export async function videoStats(
  store: EngagementStore,
  videoIds: readonly string[],
): Promise<Map<string, VideoStats>> {
  // One after another: on Postgres each parallel query would take a connection of its own.
  const views = await store.viewCount(videoIds);
  const reactions = await store.reactionCounts(videoIds);
  const comments = await store.commentCount(videoIds);
  return new Map(
    videoIds.map((id) => [
      id,
      {
        views: views.get(id) ?? 0,
        likes: reactions.get(id)?.likes ?? 0,
        dislikes: reactions.get(id)?.dislikes ?? 0,
        comments: comments.get(id) ?? 0,
      },
    ]),
  );
}

/**
 * Stats for video reads. A failing engagement store must not fail reading a video: the error is logged
 * with the request id and the videos go out without `stats` (the field is optional for that reason).
 */
export async function statsForRead(
  c: Context<AppEnv>,
  videoIds: readonly string[],
): Promise<Map<string, VideoStats>> {
  if (videoIds.length === 0) return new Map();
  try {
    return await withOpenedStore(c, (store) => videoStats(store, videoIds));
  } catch (error) {
    console.error(`[${c.get("requestId") ?? "-"}] engagement stats unavailable:`, loggable(error));
    return new Map();
  }
}

/**
 * One video's stats and, for a signed-in caller, their reaction to it, from one opened store (GET
 * /v1/videos/:id). Like statsForRead, a failing store does not fail the read: stats are absent and the
 * reaction reads null.
 */
export async function engagementForRead(
  c: Context<AppEnv>,
  videoId: string,
  userId: string | null,
): Promise<{ stats?: VideoStats; reaction: ReactionValue | null }> {
  try {
    return await withOpenedStore(c, async (store) => ({
      stats: (await videoStats(store, [videoId])).get(videoId),
      reaction: userId === null ? null : await store.mine(videoId, userId),
    }));
  } catch (error) {
    console.error(`[${c.get("requestId") ?? "-"}] engagement stats unavailable:`, loggable(error));
    return { reaction: null };
  }
}
