import type { Body } from "@uppy/core";
import Dashboard from "@uppy/dashboard";
import { useEffect, useRef } from "preact/hooks";
import type { VideoMeta, VideoUppy } from "./uppy.ts";
import "@uppy/core/css/style.min.css";
import "@uppy/dashboard/css/style.min.css";

/**
 * Uppy's Dashboard, inline: drop or pick files, see each file's upload. The page's own form takes each
 * file's details and starts the upload, so the Dashboard's upload button is hidden.
 */
export function UploadDashboard({ uppy, height }: { uppy: VideoUppy; height: number }) {
  const target = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!target.current) return;
    uppy.use(Dashboard<VideoMeta, Body>, {
      id: "Dashboard",
      target: target.current,
      inline: true,
      width: "100%",
      height,
      theme: "auto",
      hideUploadButton: true,
      hideProgressAfterFinish: true,
      doneButtonHandler: null,
      proudlyDisplayPoweredByUppy: false,
      disableThumbnailGenerator: true,
      note: "Video files: MP4, MOV, MKV, WebM…",
      locale: { strings: { dropPasteFiles: "Drop videos here or %{browseFiles}", browseFiles: "browse" } },
    });
    // Uppy 5.1 renders a single file's item as role="listitem" without a list around it (its VirtualList
    // has the role, the single-file layout does not): give that container the role it lacks.
    const fixListRole = new MutationObserver(() => {
      for (const files of target.current?.querySelectorAll(".uppy-Dashboard-files:not([role])") ?? []) {
        files.setAttribute("role", "list");
      }
    });
    fixListRole.observe(target.current, { childList: true, subtree: true });
    return () => {
      fixListRole.disconnect();
      const plugin = uppy.getPlugin("Dashboard");
      if (plugin) uppy.removePlugin(plugin);
    };
  }, [uppy]);
  return <div ref={target} class="upload-dashboard" />;
}
