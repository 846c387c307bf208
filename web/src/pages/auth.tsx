import { useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { ErrorNotice } from "../components/notice.tsx";
import { api, call, session } from "../lib/api.ts";
import { useTitle } from "../lib/hooks.ts";
import { nextPath } from "../lib/next-path.ts";

/** Sign up and sign in (the same form; the edge says what is wrong with an email or a password). */
export function AuthPage({ mode }: { mode: "signin" | "signup" }) {
  const { query, route } = useLocation();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const signup = mode === "signup";
  useTitle(signup ? "Sign up" : "Sign in");
  const next = nextPath(query.next);

  const onSubmit = async (event: SubmitEvent) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget as HTMLFormElement);
    const body = { email: String(form.get("email") ?? ""), password: String(form.get("password") ?? "") };
    setBusy(true);
    setError(null);
    try {
      const tokens = await call(
        signup ? api.POST("/v1/auth/signup", { body }) : api.POST("/v1/auth/login", { body }),
      );
      session.signedIn(tokens);
      route(next, true);
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  };

  const other = `${signup ? "/signin" : "/signup"}${next !== "/" ? `?next=${encodeURIComponent(next)}` : ""}`;
  return (
    <section class="page narrow">
      <h1>{signup ? "Create your account" : "Sign in"}</h1>
      <form class="form" onSubmit={onSubmit}>
        <label>
          Email
          <input name="email" type="email" required autoComplete="email" />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            required
            minLength={signup ? 8 : undefined}
            autoComplete={signup ? "new-password" : "current-password"}
            aria-describedby={signup ? "password-help" : undefined}
          />
        </label>
        {signup && (
          <p id="password-help" class="help">
            At least 8 characters; common passwords are refused.
          </p>
        )}
        {error ? <ErrorNotice error={error} /> : null}
        <button type="submit" class="button primary" disabled={busy}>
          {signup ? "Sign up" : "Sign in"}
        </button>
      </form>
      <p>
        {signup ? "Already have an account? " : "New to Streamlet? "}
        <a href={other}>{signup ? "Sign in" : "Create an account"}</a>
      </p>
    </section>
  );
}
