import type { ReactionValue } from "@streamlet/shared";
import { type Collection, type Db, type Filter, MongoClient, MongoServerError } from "mongodb";
import {
  type CommentCursor,
  type CommentRecord,
  type CreateCommentResult,
  type EngagementStore,
  type NewComment,
  type Page,
  type PageRequest,
  type ReactionCounts,
  sumViews,
  toPage,
  type ViewBatchEntry,
  zeroes,
} from "./store.ts";

type ReactionDoc = { videoId: string; userId: string; value: ReactionValue; updatedAt: Date };
type ViewCountDoc = { _id: string; views: number; updatedAt: Date };
type CommentDoc = {
  _id: string;
  videoId: string;
  authorId: string;
  parentId: string | null;
  body: string;
  createdAt: Date;
};

const DUPLICATE_KEY = 11000;

/** Databases whose indexes this isolate (or process) has already created: createIndexes runs once each. */
const indexed = new Set<string>();

/**
 * Creates the indexes the store relies on, once per isolate or process and database (createIndexes is
 * idempotent, so two first requests racing both succeed). The unique {userId, videoId} index is what keeps
 * reactions at one per user and video.
 */
export async function ensureIndexes(db: Db, key: string): Promise<void> {
  if (indexed.has(key)) return;
  await db.collection<ReactionDoc>("reactions").createIndexes([
    { key: { userId: 1, videoId: 1 }, name: "reactions_user_video_unique", unique: true },
    { key: { videoId: 1, value: 1 }, name: "reactions_video_value" },
  ]);
  await db.collection<CommentDoc>("comments").createIndexes([
    { key: { videoId: 1, createdAt: -1, _id: -1 }, name: "comments_video_created" },
    {
      key: { parentId: 1, createdAt: -1, _id: -1 },
      name: "comments_parent_created",
      partialFilterExpression: { parentId: { $type: "string" } },
    },
  ]);
  indexed.add(key);
}

/**
 * Opens a client, makes sure the indexes exist, and returns the store with a way to close the client.
 * Under workerd a client cannot outlive the request (or Durable Object event) that opened it, so each one
 * opens its own; a Node host may keep one for the life of the process instead.
 */
export async function openMongoStore(options: {
  url: string;
  db: string;
}): Promise<{ store: MongoEngagementStore; close: () => Promise<void> }> {
  const client = new MongoClient(options.url, {
    appName: "streamlet-edge",
    // Fail a request in seconds, not the driver's default 30 s, when the server is unreachable.
    serverSelectionTimeoutMS: 5000,
    maxPoolSize: 4,
  });
  try {
    await client.connect();
    const db = client.db(options.db);
    await ensureIndexes(db, `${options.url}\u0000${options.db}`);
    return { store: new MongoEngagementStore(db), close: () => client.close() };
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
}

/** The EngagementStore on MongoDB (official driver): collections reactions, video_view_counts, comments. */
export class MongoEngagementStore implements EngagementStore {
  readonly #reactions: Collection<ReactionDoc>;
  readonly #views: Collection<ViewCountDoc>;
  readonly #comments: Collection<CommentDoc>;

  constructor(db: Db) {
    this.#reactions = db.collection<ReactionDoc>("reactions");
    this.#views = db.collection<ViewCountDoc>("video_view_counts");
    this.#comments = db.collection<CommentDoc>("comments");
  }

  async setReaction(videoId: string, userId: string, value: ReactionValue): Promise<void> {
    const write = () =>
      this.#reactions.updateOne(
        { userId, videoId },
        { $set: { value, updatedAt: new Date() } },
        { upsert: true },
      );
    try {
      await write();
    } catch (error) {
      // Two first reactions racing: one upsert inserts, the other hits the unique index; it now updates.
      if (!(error instanceof MongoServerError && error.code === DUPLICATE_KEY)) throw error;
      await write();
    }
  }

  async clearReaction(videoId: string, userId: string): Promise<void> {
    await this.#reactions.deleteOne({ userId, videoId });
  }

  async reactionCounts(videoIds: readonly string[]): Promise<Map<string, ReactionCounts>> {
    const counts = zeroes<ReactionCounts>(videoIds, () => ({ likes: 0, dislikes: 0 }));
    if (videoIds.length === 0) return counts;
    const rows = await this.#reactions
      .aggregate<{ _id: { videoId: string; value: ReactionValue }; n: number }>([
        { $match: { videoId: { $in: [...videoIds] } } },
        { $group: { _id: { videoId: "$videoId", value: "$value" }, n: { $sum: 1 } } },
      ])
      .toArray();
    for (const row of rows) {
      const entry = counts.get(row._id.videoId);
      if (!entry) continue;
      if (row._id.value === "like") entry.likes = row.n;
      else entry.dislikes = row.n;
    }
    return counts;
  }

  async mine(videoId: string, userId: string): Promise<ReactionValue | null> {
    const doc = await this.#reactions.findOne({ userId, videoId }, { projection: { value: 1 } });
    return doc?.value ?? null;
  }

  async addViews(batch: readonly ViewBatchEntry[]): Promise<void> {
    const totals = sumViews(batch);
    if (totals.size === 0) return;
    const now = new Date();
    await this.#views.bulkWrite(
      [...totals].map(([videoId, views]) => ({
        updateOne: {
          filter: { _id: videoId },
          update: { $inc: { views }, $set: { updatedAt: now } },
          upsert: true,
        },
      })),
      { ordered: false },
    );
  }

  async viewCount(videoIds: readonly string[]): Promise<Map<string, number>> {
    const counts = zeroes(videoIds, () => 0);
    if (videoIds.length === 0) return counts;
    const docs = await this.#views.find({ _id: { $in: [...videoIds] } }).toArray();
    for (const doc of docs) counts.set(doc._id, doc.views);
    return counts;
  }

  async createComment(input: NewComment): Promise<CreateCommentResult> {
    const { parentId } = input;
    if (parentId !== null) {
      const parent = await this.#comments.findOne({ _id: parentId });
      if (parent === null || parent.videoId !== input.videoId)
        return { ok: false, reason: "parent_not_found" };
      if (parent.parentId !== null) return { ok: false, reason: "reply_depth" };
    }
    const doc: CommentDoc = {
      _id: crypto.randomUUID(),
      videoId: input.videoId,
      authorId: input.authorId,
      parentId,
      body: input.body,
      createdAt: new Date(),
    };
    await this.#comments.insertOne(doc);
    // No foreign keys here: if the parent was deleted meanwhile, take the orphan back out.
    if (parentId !== null && (await this.#comments.countDocuments({ _id: parentId }, { limit: 1 })) === 0) {
      await this.#comments.deleteOne({ _id: doc._id });
      return { ok: false, reason: "parent_not_found" };
    }
    return { ok: true, comment: toRecord(doc, 0) };
  }

  async listComments(videoId: string, page: PageRequest): Promise<Page<CommentRecord>> {
    const docs = await this.#page({ videoId, parentId: null }, page);
    const replyCounts = zeroes(
      docs.map((doc) => doc._id),
      () => 0,
    );
    if (docs.length > 0) {
      const rows = await this.#comments
        .aggregate<{ _id: string; n: number }>([
          { $match: { parentId: { $in: [...replyCounts.keys()] } } },
          { $group: { _id: "$parentId", n: { $sum: 1 } } },
        ])
        .toArray();
      for (const row of rows) replyCounts.set(row._id, row.n);
    }
    return toPage(
      docs.map((doc) => toRecord(doc, replyCounts.get(doc._id) ?? 0)),
      page.limit,
    );
  }

  async listReplies(parentId: string, page: PageRequest): Promise<Page<CommentRecord>> {
    const docs = await this.#page({ parentId }, page);
    return toPage(
      docs.map((doc) => toRecord(doc, 0)),
      page.limit,
    );
  }

  #page(filter: Filter<CommentDoc>, { limit, cursor }: PageRequest): Promise<CommentDoc[]> {
    return this.#comments
      .find(cursor ? { $and: [filter, after(cursor)] } : filter)
      .sort({ createdAt: -1, _id: -1 })
      .limit(limit + 1)
      .toArray();
  }

  async getComment(id: string): Promise<CommentRecord | null> {
    const doc = await this.#comments.findOne({ _id: id });
    return doc ? toRecord(doc, 0) : null;
  }

  async deleteComment(id: string): Promise<boolean> {
    const { deletedCount } = await this.#comments.deleteOne({ _id: id });
    if (deletedCount === 0) return false;
    await this.#comments.deleteMany({ parentId: id });
    return true;
  }

  async commentCount(videoIds: readonly string[]): Promise<Map<string, number>> {
    const counts = zeroes(videoIds, () => 0);
    if (videoIds.length === 0) return counts;
    const rows = await this.#comments
      .aggregate<{ _id: string; n: number }>([
        { $match: { videoId: { $in: [...videoIds] } } },
        { $group: { _id: "$videoId", n: { $sum: 1 } } },
      ])
      .toArray();
    for (const row of rows) counts.set(row._id, row.n);
    return counts;
  }

  async deleteVideo(videoId: string): Promise<void> {
    // No foreign keys to cascade: every collection is cleared by hand (idempotent, so a retried
    // DELETE finishes what a failed one started).
    await this.#reactions.deleteMany({ videoId });
    await this.#views.deleteOne({ _id: videoId });
    await this.#comments.deleteMany({ videoId });
  }
}

/** Documents strictly after the cursor in (createdAt desc, _id desc) order. */
function after(cursor: CommentCursor): Filter<CommentDoc> {
  return {
    $or: [{ createdAt: { $lt: cursor.createdAt } }, { createdAt: cursor.createdAt, _id: { $lt: cursor.id } }],
  };
}

function toRecord(doc: CommentDoc, replyCount: number): CommentRecord {
  return {
    id: doc._id,
    videoId: doc.videoId,
    authorId: doc.authorId,
    parentId: doc.parentId,
    body: doc.body,
    createdAt: doc.createdAt,
    replyCount,
  };
}
