import type { ComponentChildren } from "preact";
import { useLocation } from "preact-iso";
import { useSession } from "../lib/hooks.ts";

/** Renders its children for a signed-in user, else a sign-in prompt that comes back here. */
export function RequireSignIn({ what, children }: { what: string; children: ComponentChildren }) {
  const current = useSession();
  const { url } = useLocation();
  if (current) return <>{children}</>;
  const next = encodeURIComponent(url);
  return (
    <section class="page narrow">
      <h1>Sign in to {what}</h1>
      <p>
        <a class="button primary" href={`/signin?next=${next}`}>
          Sign in
        </a>{" "}
        or <a href={`/signup?next=${next}`}>create an account</a>.
      </p>
    </section>
  );
}
