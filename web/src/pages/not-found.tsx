import { useTitle } from "../lib/hooks.ts";

export function NotFoundPage() {
  useTitle("Not found");
  return (
    <section class="page narrow">
      <h1>Page not found</h1>
      <p>
        There is nothing at this address. <a href="/">Back to the home page</a>.
      </p>
    </section>
  );
}
