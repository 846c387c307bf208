/**
 * The signed-in user, kept in localStorage so every tab shares one sign-in, with access tokens refreshed
 * silently before they expire.
 *
 * The edge rotates refresh tokens and treats a second use of one as theft (every token of the sign-in is
 * revoked), so two tabs must never refresh with the same token: refreshes take a Web Lock across tabs and,
 * once inside it, first re-read the stored session, which another tab may already have renewed.
 */
import type { AuthTokens } from "./api-types.ts";

export interface Session {
  user: { id: string; email: string };
  accessToken: string;
  /** Epoch ms when the access token expires. */
  accessExpiresAt: number;
  refreshToken: string;
}

export const STORAGE_KEY = "streamlet.session";
const LOCK_NAME = "streamlet.refresh";
/** Refresh this long before the access token expires. */
const EARLY_MS = 30_000;

type Listener = (session: Session | null) => void;
type Refresher = (refreshToken: string) => Promise<AuthTokens>;

export class SessionStore {
  #session: Session | null;
  #listeners = new Set<Listener>();
  #refreshing: Promise<Session | null> | null = null;

  readonly #storage: Storage;
  readonly #refresher: Refresher;
  readonly #now: () => number;

  constructor(storage: Storage, refresher: Refresher, now: () => number = Date.now) {
    this.#storage = storage;
    this.#refresher = refresher;
    this.#now = now;
    this.#session = this.#read();
  }

  get current(): Session | null {
    return this.#session;
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Another tab signed in, out, or refreshed: call with the storage event's key. */
  syncFromStorage(key: string | null) {
    if (key !== null && key !== STORAGE_KEY) return;
    const next = this.#read();
    if (next?.accessToken === this.#session?.accessToken && (next === null) === (this.#session === null))
      return;
    this.#set(next, false);
  }

  signedIn(tokens: AuthTokens) {
    this.#set(fromTokens(tokens, this.#now()), true);
  }

  signedOut() {
    this.#set(null, true);
  }

  /**
   * An access token valid for at least EARLY_MS, refreshing when needed; undefined when signed out or
   * when the refresh token no longer works (then the session is cleared). `rejected`: a token the edge
   * answered 401 to, refreshed even though it looks valid, unless the session has moved past it already.
   */
  async accessToken(rejected?: string): Promise<string | undefined> {
    const session = this.#session;
    if (!session) return undefined;
    const fresh = session.accessExpiresAt - EARLY_MS > this.#now();
    if (fresh && (rejected === undefined || rejected !== session.accessToken)) return session.accessToken;
    this.#refreshing ??= this.#refresh(rejected).finally(() => {
      this.#refreshing = null;
    });
    return (await this.#refreshing)?.accessToken;
  }

  async #refresh(rejected: string | undefined): Promise<Session | null> {
    const run = async () => {
      // Inside the lock: another tab may have refreshed (or signed out) while this one waited.
      const stored = this.#read();
      if (!stored) {
        this.#set(null, false);
        return null;
      }
      if (stored.accessToken !== rejected && stored.accessExpiresAt - EARLY_MS > this.#now()) {
        this.#set(stored, false);
        return stored;
      }
      try {
        const fresh = fromTokens(await this.#refresher(stored.refreshToken), this.#now());
        // Signed out (here or in another tab) while the refresh was on its way: stay signed out.
        if (this.#read()?.refreshToken !== stored.refreshToken) {
          this.#set(this.#read(), false);
          return this.#session;
        }
        this.#set(fresh, true);
        return fresh;
      } catch (error) {
        if (error instanceof RefreshRefused) {
          this.#set(null, true);
          return null;
        }
        throw error;
      }
    };
    const locks = globalThis.navigator?.locks;
    return locks ? locks.request(LOCK_NAME, run) : run();
  }

  #read(): Session | null {
    try {
      const raw = this.#storage.getItem(STORAGE_KEY);
      if (!raw) return null;
      const value = JSON.parse(raw) as Partial<Session>;
      if (
        typeof value.accessToken !== "string" ||
        typeof value.refreshToken !== "string" ||
        typeof value.accessExpiresAt !== "number" ||
        typeof value.user?.id !== "string" ||
        typeof value.user?.email !== "string"
      ) {
        return null;
      }
      return value as Session;
    } catch {
      return null;
    }
  }

  #set(session: Session | null, persist: boolean) {
    this.#session = session;
    if (persist) {
      if (session) this.#storage.setItem(STORAGE_KEY, JSON.stringify(session));
      else this.#storage.removeItem(STORAGE_KEY);
    }
    for (const listener of this.#listeners) listener(session);
  }
}

/** Thrown by a refresher when the edge refused the refresh token (4xx): the sign-in is over. */
export class RefreshRefused extends Error {}

function fromTokens(tokens: AuthTokens, now: number): Session {
  return {
    user: tokens.user,
    accessToken: tokens.accessToken,
    accessExpiresAt: now + tokens.expiresIn * 1000,
    refreshToken: tokens.refreshToken,
  };
}
