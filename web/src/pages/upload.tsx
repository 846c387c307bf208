import { useEffect, useState } from "preact/hooks";
import { ErrorNotice, Loading } from "../components/notice.tsx";
import { RequireSignIn } from "../components/require-sign-in.tsx";
import { useSession, useTitle } from "../lib/hooks.ts";
import { UploadDashboard } from "../upload/dashboard.tsx";
import { FileCard, fieldIdFor } from "../upload/file-card.tsx";
import { filePhase } from "../upload/plan.ts";
import { uploaderFor, uploaderLock, type VideoUppy } from "../upload/uppy.ts";
import { useUppyState } from "../upload/use-uppy-state.ts";
import "../upload/upload.css";

/**
 * Upload videos: pick or drop files, give each a title, description and visibility, upload them (parts in
 * parallel, resumed after a reload), then follow each video's transcode until it can be watched.
 */
export function UploadPage() {
  useTitle("Upload");
  return (
    <RequireSignIn what="upload videos">
      <Uploads />
    </RequireSignIn>
  );
}

function Uploads() {
  const user = useSession()?.user;
  if (!user) return null;
  return <OneTabUploads key={user.id} userId={user.id} />;
}

/** The uploads, in the one tab that holds the user's upload lock; elsewhere, where they are. */
function OneTabUploads({ userId }: { userId: string }) {
  const [held, setHeld] = useState(() => uploaderLock(userId).held);
  // The lock is granted asynchronously even when no other tab has it: say "another tab" only if it is
  // still not granted after a moment.
  const [waitedLong, setWaitedLong] = useState(false);
  useEffect(() => {
    if (held) return;
    let live = true;
    void uploaderLock(userId).granted.then(() => live && setHeld(true));
    const timer = setTimeout(() => live && setWaitedLong(true), 500);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [userId, held]);
  if (held) return <UploadArea uppy={uploaderFor(userId)} />;
  if (!waitedLong) return <Loading label="Loading your uploads" />;
  return (
    <section class="page upload-page">
      <h1>Upload videos</h1>
      <div class="notice" role="status">
        <p>
          Your uploads are open in another tab of this browser. Carry on there; when that tab is closed, they
          continue here.
        </p>
      </div>
    </section>
  );
}

function UploadArea({ uppy }: { uppy: VideoUppy }) {
  const state = useUppyState(uppy);
  const [error, setError] = useState<unknown>(null);
  const files = Object.values(state.files);
  const drafts = files.filter((f) => filePhase(f).kind === "draft");
  const missing = files.filter((f) => f.isGhost && !f.meta.confirmed);

  const start = () => {
    setError(null);
    const untitled = drafts.find((f) => !f.meta.title.trim());
    if (untitled) {
      setError(new Error(`“${untitled.name}” needs a title`));
      document.getElementById(`${fieldIdFor(untitled.id)}-title`)?.focus();
      return;
    }
    uppy.upload().catch((caught: unknown) => setError(caught));
  };

  return (
    <section class="page upload-page">
      <h1>Upload videos</h1>
      <p class="help upload-intro">
        Add one or more video files, give each a title, then upload. Uploads go on if you leave this page, and
        pick up where they were after a reload.
      </p>
      {missing.length > 0 && (
        <div class="notice upload-resume" role="status">
          <p>
            <strong>
              {missing.length === 1 ? "One upload is" : `${missing.length} uploads are`} waiting for its file.
            </strong>{" "}
            After the reload the browser no longer has{" "}
            {missing.map((f, i) => (
              <span key={f.id}>
                {i > 0 ? ", " : ""}“{f.name}”
              </span>
            ))}
            : pick the same file again (below, or drop it on the box) and the upload resumes where it stopped.
          </p>
        </div>
      )}
      <UploadDashboard uppy={uppy} height={files.length > 0 ? 320 : 260} />
      {error ? <ErrorNotice error={error} /> : null}
      {files.length > 0 && (
        <>
          <h2>Your files</h2>
          <ul class="upload-list">
            {files.map((file) => (
              <FileCard key={file.id} uppy={uppy} file={file} />
            ))}
          </ul>
        </>
      )}
      {drafts.length > 0 && (
        <p class="upload-actions">
          <button type="button" class="button primary" onClick={start}>
            Upload {drafts.length === 1 ? "1 video" : `${drafts.length} videos`}
          </button>
        </p>
      )}
    </section>
  );
}
