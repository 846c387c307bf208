/**
 * The web app's session store: silent refreshes, one refresh at a time, sign-outs other tabs made.
 * Storage is a Map-backed Storage (this is the node project: no browser, and no Web Locks, so the
 * cross-tab lock itself is exercised in Chromium by the e2e tests; here the in-tab coalescing is).
 */
import { describe, expect, it } from "vitest";
import type { AuthTokens } from "../src/lib/api-types.ts";
import { RefreshRefused, SessionStore, STORAGE_KEY } from "../src/lib/session.ts";

class MemoryStorage implements Storage {
  #items = new Map<string, string>();
  get length() {
    return this.#items.size;
  }
  clear() {
    this.#items.clear();
  }
  getItem(key: string) {
    return this.#items.get(key) ?? null;
  }
  key(index: number) {
    return [...this.#items.keys()][index] ?? null;
  }
  removeItem(key: string) {
    this.#items.delete(key);
  }
  setItem(key: string, value: string) {
    this.#items.set(key, value);
  }
}

const tokens = (n: number, expiresIn = 900): AuthTokens => ({
  user: { id: "u1", email: "u1@example.com" },
  accessToken: `access-${n}`,
  refreshToken: `refresh-${n}`,
  expiresIn,
});

function setup() {
  const storage = new MemoryStorage();
  let now = 1_000_000;
  const calls: string[] = [];
  let next = 2;
  let answer: (refreshToken: string) => Promise<AuthTokens> = async () => tokens(next++);
  const store = new SessionStore(
    storage,
    (refreshToken) => {
      calls.push(refreshToken);
      return answer(refreshToken);
    },
    () => now,
  );
  return {
    storage,
    store,
    calls,
    advance: (ms: number) => {
      now += ms;
    },
    answerWith: (fn: typeof answer) => {
      answer = fn;
    },
  };
}

describe("SessionStore", () => {
  it("keeps a sign-in in storage and hands out the access token while it is fresh", async () => {
    const { store, storage, calls } = setup();
    expect(await store.accessToken()).toBeUndefined();
    store.signedIn(tokens(1));
    expect(JSON.parse(storage.getItem(STORAGE_KEY) ?? "{}").refreshToken).toBe("refresh-1");
    expect(await store.accessToken()).toBe("access-1");
    expect(calls).toEqual([]);
  });

  it("refreshes 30 s before expiry, once for concurrent callers, and stores the rotated tokens", async () => {
    const { store, storage, calls, advance } = setup();
    store.signedIn(tokens(1, 900));
    advance(871_000); // 29 s left
    const [a, b, c] = await Promise.all([store.accessToken(), store.accessToken(), store.accessToken()]);
    expect([a, b, c]).toEqual(["access-2", "access-2", "access-2"]);
    expect(calls).toEqual(["refresh-1"]);
    expect(JSON.parse(storage.getItem(STORAGE_KEY) ?? "{}").refreshToken).toBe("refresh-2");
    expect(await store.accessToken()).toBe("access-2");
    expect(calls).toHaveLength(1);
  });

  it("uses a session another tab refreshed instead of spending the old refresh token", async () => {
    const { store, storage, calls, advance } = setup();
    store.signedIn(tokens(1, 60));
    advance(50_000);
    // Another tab rotated the tokens meanwhile (same storage).
    storage.setItem(
      STORAGE_KEY,
      JSON.stringify({ ...tokens(9), accessExpiresAt: 1_050_000 + 900_000, refreshToken: "refresh-9" }),
    );
    expect(await store.accessToken()).toBe("access-9");
    expect(calls).toEqual([]);
  });

  it("refreshes when the edge rejected a token that looked fresh, once however many requests it failed", async () => {
    const { store, calls } = setup();
    store.signedIn(tokens(1));
    expect(await store.accessToken("access-1")).toBe("access-2");
    // A late 401 for the old token: the session has moved past it, nothing to refresh.
    expect(await store.accessToken("access-1")).toBe("access-2");
    expect(calls).toEqual(["refresh-1"]);
  });

  it("stays signed out when a sign-out lands while a refresh is on its way", async () => {
    const { store, storage, advance, answerWith } = setup();
    store.signedIn(tokens(1, 60));
    advance(60_000);
    answerWith(async () => {
      // Another tab signs out meanwhile.
      storage.removeItem(STORAGE_KEY);
      return tokens(2);
    });
    expect(await store.accessToken()).toBeUndefined();
    expect(store.current).toBeNull();
    expect(storage.getItem(STORAGE_KEY)).toBeNull();
  });

  it("ends the session when the refresh token is refused, and tells listeners", async () => {
    const { store, storage, advance, answerWith } = setup();
    const seen: (string | null)[] = [];
    store.subscribe((s) => seen.push(s?.accessToken ?? null));
    store.signedIn(tokens(1, 60));
    advance(60_000);
    answerWith(async () => {
      throw new RefreshRefused();
    });
    expect(await store.accessToken()).toBeUndefined();
    expect(store.current).toBeNull();
    expect(storage.getItem(STORAGE_KEY)).toBeNull();
    expect(seen).toEqual(["access-1", null]);
  });

  it("keeps the session when a refresh fails for another reason (offline, 5xx), and tries again later", async () => {
    const { store, advance, answerWith, calls } = setup();
    store.signedIn(tokens(1, 60));
    advance(60_000);
    answerWith(async () => {
      throw new TypeError("Failed to fetch");
    });
    await expect(store.accessToken()).rejects.toThrow("Failed to fetch");
    expect(store.current?.refreshToken).toBe("refresh-1");
    answerWith(async () => tokens(3));
    expect(await store.accessToken()).toBe("access-3");
    expect(calls).toEqual(["refresh-1", "refresh-1"]);
  });

  it("follows sign-outs and sign-ins from other tabs (storage events), ignoring other keys", () => {
    const { store, storage } = setup();
    store.signedIn(tokens(1));
    storage.removeItem(STORAGE_KEY);
    store.syncFromStorage("something-else");
    expect(store.current?.accessToken).toBe("access-1");
    store.syncFromStorage(STORAGE_KEY);
    expect(store.current).toBeNull();
    storage.setItem(STORAGE_KEY, JSON.stringify({ ...tokens(4), accessExpiresAt: 2_000_000 }));
    store.syncFromStorage(null);
    expect(store.current?.accessToken).toBe("access-4");
  });

  it("ignores a malformed stored session", async () => {
    const { storage } = setup();
    storage.setItem(STORAGE_KEY, '{"accessToken": 1}');
    const store = new SessionStore(storage, async () => tokens(2));
    expect(store.current).toBeNull();
    expect(await store.accessToken()).toBeUndefined();
  });
});
