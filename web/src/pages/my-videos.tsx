// Placeholder until this page is built.
export function MyVideosPage() {
  return (
    <section class="page">
      <h1>Coming soon</h1>
    </section>
  );
}
