import { useLocation } from "preact-iso";

/**
 * A line asking a signed-out viewer to sign in, coming back to this video afterwards; `announce` when it
 * appears in answer to a click (screen readers then read it).
 */
export function SignInPrompt({ what, announce = false }: { what: string; announce?: boolean }) {
  const { url } = useLocation();
  const next = encodeURIComponent(url);
  return (
    <p class="sign-in-prompt" role={announce ? "status" : undefined}>
      <a href={`/signin?next=${next}`}>Sign in</a> or <a href={`/signup?next=${next}`}>create an account</a>{" "}
      to {what}.
    </p>
  );
}
