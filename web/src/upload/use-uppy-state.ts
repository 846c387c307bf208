import { useEffect, useState } from "preact/hooks";
import type { VideoUppy } from "./uppy.ts";

/** Uppy's state, re-rendering at most once a frame however often Uppy changes it (progress events). */
export function useUppyState(uppy: VideoUppy) {
  const [state, setState] = useState(() => uppy.getState());
  useEffect(() => {
    let frame = 0;
    const update = () => {
      frame ||= requestAnimationFrame(() => {
        frame = 0;
        setState(uppy.getState());
      });
    };
    uppy.on("state-update", update);
    update();
    return () => {
      uppy.off("state-update", update);
      cancelAnimationFrame(frame);
    };
  }, [uppy]);
  return state;
}
