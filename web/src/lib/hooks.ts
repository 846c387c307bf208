import { useEffect, useState } from "preact/hooks";
import { session } from "./api.ts";
import type { Session } from "./session.ts";

/** The current session (null when signed out), re-rendering on sign-in, sign-out and refreshes. */
export function useSession(): Session | null {
  const [current, setCurrent] = useState(session.current);
  useEffect(() => session.subscribe(setCurrent), []);
  return current;
}

export type AsyncState<T> =
  | { status: "loading"; data?: undefined; error?: undefined }
  | { status: "done"; data: T; error?: undefined }
  | { status: "error"; data?: undefined; error: unknown };

/**
 * Runs `load` whenever `deps` change and tracks its outcome; a later run supersedes an earlier one still in
 * flight (its result is dropped). `reload` runs it again with the same deps.
 */
export function useAsync<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: unknown[],
): AsyncState<T> & { reload(): void; set(data: T): void } {
  const [state, setState] = useState<AsyncState<T>>({ status: "loading" });
  const [round, setRound] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setState((previous) => (previous.status === "done" && round > 0 ? previous : { status: "loading" }));
    load(controller.signal).then(
      (data) => controller.signal.aborted || setState({ status: "done", data }),
      // A reload that fails (a poll, say) keeps what the page shows; "Try again" after an error retries.
      (error: unknown) =>
        controller.signal.aborted ||
        setState((previous) =>
          round > 0 && previous.status === "done" ? previous : { status: "error", error },
        ),
    );
    return () => controller.abort();
  }, [...deps, round]);
  return {
    ...state,
    reload: () => setRound((n) => n + 1),
    set: (data: T) => setState({ status: "done", data }),
  };
}

/** Sets document.title for the page. */
export function useTitle(title: string | undefined) {
  useEffect(() => {
    document.title = title ? `${title} · Streamlet` : "Streamlet";
  }, [title]);
}
