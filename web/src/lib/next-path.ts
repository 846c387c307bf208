/** Where to go after signing in: a same-site path from ?next=, else home (never another origin). */
export function nextPath(next: string | undefined): string {
  return next?.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}
