/**
 * The shell: header (search, navigation, account) and the router. Pages other than home and sign-in load
 * on demand (preact-iso's lazy), so the first load stays small; the watch page brings the player with it.
 */

import { useState } from "preact/hooks";
import { ErrorBoundary, LocationProvider, lazy, Route, Router, useLocation } from "preact-iso";
import { api, session } from "./lib/api.ts";
import { useSession } from "./lib/hooks.ts";
import { AuthPage } from "./pages/auth.tsx";
import { HomePage } from "./pages/home.tsx";
import { NotFoundPage } from "./pages/not-found.tsx";

const WatchPage = lazy(() => import("./pages/watch.tsx").then((m) => m.WatchPage));
const UploadPage = lazy(() => import("./pages/upload.tsx").then((m) => m.UploadPage));
const MyVideosPage = lazy(() => import("./pages/my-videos.tsx").then((m) => m.MyVideosPage));
const ChannelPage = lazy(() => import("./pages/channel.tsx").then((m) => m.ChannelPage));
const MyChannelPage = lazy(() => import("./pages/my-channel.tsx").then((m) => m.MyChannelPage));
const SubscriptionsPage = lazy(() => import("./pages/subscriptions.tsx").then((m) => m.SubscriptionsPage));

export function App() {
  return (
    <LocationProvider>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <main id="main" tabIndex={-1}>
        <ErrorBoundary>
          {/* A new page takes the focus (screen readers announce it; keyboard users start at its top). */}
          <Router onRouteChange={() => document.getElementById("main")?.focus({ preventScroll: true })}>
            <Route path="/" component={HomePage} />
            <Route path="/signin" component={AuthPage} mode="signin" />
            <Route path="/signup" component={AuthPage} mode="signup" />
            <Route path="/watch/:id" component={WatchPage} />
            <Route path="/upload" component={UploadPage} />
            <Route path="/me/videos" component={MyVideosPage} />
            <Route path="/me/channel" component={MyChannelPage} />
            <Route path="/subscriptions" component={SubscriptionsPage} />
            <Route path="/c/:handle" component={ChannelPage} />
            <Route default component={NotFoundPage} />
          </Router>
        </ErrorBoundary>
      </main>
    </LocationProvider>
  );
}

function Header() {
  const current = useSession();
  const { path, query, route } = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const onSearch = (event: SubmitEvent) => {
    event.preventDefault();
    const q = new FormData(event.currentTarget as HTMLFormElement).get("q")?.toString().trim() ?? "";
    route(q ? `/?q=${encodeURIComponent(q)}` : "/");
  };
  const signOut = async () => {
    const refreshToken = session.current?.refreshToken;
    session.signedOut();
    setMenuOpen(false);
    // Revoke the sign-in at the edge too; signing out here does not wait for it.
    if (refreshToken) void api.POST("/v1/auth/logout", { body: { refreshToken } }).catch(() => {});
    route("/");
  };
  const link = (href: string, label: string) => (
    <a href={href} aria-current={path === href ? "page" : undefined} onClick={() => setMenuOpen(false)}>
      {label}
    </a>
  );
  return (
    <header class="site-header">
      <a href="/" class="brand" aria-label="Streamlet home">
        <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">
          <rect width="32" height="32" rx="7" fill="currentColor" />
          <path d="M12 9v14l11-7z" fill="var(--bg)" />
        </svg>
        <span>Streamlet</span>
      </a>
      {/* biome-ignore lint/a11y/useSemanticElements: <search> is not in Preact's JSX types yet; the role says the same. */}
      <form role="search" class="search" onSubmit={onSearch}>
        <label for="search-q" class="visually-hidden">
          Search videos
        </label>
        <input
          key={query.q ?? ""}
          id="search-q"
          name="q"
          type="search"
          placeholder="Search"
          defaultValue={query.q ?? ""}
          maxLength={200}
        />
        <button type="submit" class="button">
          Search
        </button>
      </form>
      <button
        type="button"
        class="button menu-toggle"
        aria-expanded={menuOpen}
        aria-controls="site-nav"
        onClick={() => setMenuOpen(!menuOpen)}
      >
        Menu
      </button>
      <nav id="site-nav" aria-label="Main" class={menuOpen ? "open" : ""}>
        {link("/", "Home")}
        {current ? (
          <>
            {link("/subscriptions", "Subscriptions")}
            {link("/upload", "Upload")}
            {link("/me/videos", "My videos")}
            {link("/me/channel", "My channel")}
            <button type="button" class="link-button" onClick={() => void signOut()}>
              Sign out
            </button>
          </>
        ) : (
          <>
            {link("/signin", "Sign in")}
            {link("/signup", "Sign up")}
          </>
        )}
      </nav>
    </header>
  );
}
