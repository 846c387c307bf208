/** Where to go after signing in: a same-site path from ?next=, else home (never another origin). */
export function nextPath(next: string | undefined): string {
  // Control characters and backslashes are refused outright: browsers drop tabs and newlines from URLs
  // and read a backslash as "/", turning "/<tab>/evil.example" into "//evil.example".
  if (!next?.startsWith("/") || [...next].some((c) => c === "\\" || c <= "\x1f" || c === "\x7f")) return "/";
  const base = "https://app.invalid";
  try {
    const url = new URL(next, base);
    return url.origin === base ? `${url.pathname}${url.search}${url.hash}` : "/";
  } catch {
    return "/";
  }
}
