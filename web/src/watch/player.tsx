/**
 * The video player: hls-video-element (hls.js) under media-chrome's controls. The only module that
 * imports either package, so they load with the watch page's chunk and never with the entry.
 */
import "media-chrome";
import "media-chrome/menu";
import "hls-video-element";
import { useEffect, useRef } from "preact/hooks";

/** Speeds offered in the playback rate menu. */
export const PLAYBACK_RATES = [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2];

/** What the player reads of <hls-video>: its rendition list (media-tracks) and hls.js (`api`). */
type HlsVideo = HTMLElement & {
  videoRenditions?: EventTarget & { selectedIndex: number };
  api?: { manualLevel: number; nextLevel: number } | null;
};

export interface PlayerProps {
  /** The HLS master playlist. */
  src: string;
  poster: string | null;
  /** A WebVTT thumbnails track for previews over the time range, when the video has one. */
  storyboard: string | null;
  /** Called each time playback starts or resumes (the media element's `playing` event). */
  onPlaying?: () => void;
}

export function Player({ src, poster, storyboard, onPlaying }: PlayerProps) {
  const media = useRef<HTMLElement>(null);
  const playing = useRef(onPlaying);
  playing.current = onPlaying;

  useEffect(() => {
    const element = media.current;
    if (!element) return;
    const listener = () => playing.current?.();
    element.addEventListener("playing", listener);
    return () => element.removeEventListener("playing", listener);
  }, []);

  useEffect(() => {
    const element = media.current as HlsVideo | null;
    const renditions = element?.videoRenditions;
    if (!element || !renditions) return;
    // hls-video-element 1.5 only hands a pick to hls.js when it differs from the level hls.js loads next,
    // so picking the rung that Auto is playing left Auto on (and it switched away later): lock it here.
    const lock = () => {
      const hls = element.api;
      if (hls && hls.manualLevel !== renditions.selectedIndex) hls.nextLevel = renditions.selectedIndex;
    };
    renditions.addEventListener("change", lock);
    return () => renditions.removeEventListener("change", lock);
  }, []);

  return (
    <media-controller class="player" breakpoints="sm:384 md:576 lg:768">
      <hls-video
        ref={media}
        slot="media"
        src={src}
        poster={poster ?? undefined}
        crossorigin="anonymous"
        playsinline
        preload="metadata"
      >
        {storyboard && <track kind="metadata" label="thumbnails" default src={storyboard} />}
      </hls-video>
      <media-loading-indicator slot="centered-chrome" noautohide />
      <media-playback-rate-menu hidden anchor="auto" rates={PLAYBACK_RATES.join(" ")} />
      <media-rendition-menu hidden anchor="auto" />
      <media-captions-menu hidden anchor="auto" />
      <media-control-bar>
        <media-play-button />
        <media-mute-button />
        <media-volume-range />
        {/* notoggle: as a button its fixed name ("playback time") does not contain its text, which axe flags. */}
        <media-time-display showduration notoggle />
        <media-time-range />
        <media-playback-rate-menu-button>
          <SpeedIcon />
        </media-playback-rate-menu-button>
        <media-rendition-menu-button />
        <media-captions-menu-button />
        <media-pip-button />
        <media-fullscreen-button />
      </media-control-bar>
    </media-controller>
  );
}

/**
 * The speed button's icon. media-chrome's default shows the rate as text ("1x") under the name "Playback
 * rate 1", which axe-core flags (the visible text is not part of the name); the menu still shows the rate.
 */
function SpeedIcon() {
  return (
    <svg slot="icon" viewBox="0 0 24 24" width="24" height="24" aria-hidden="true">
      <path
        fill="currentColor"
        d="M12 4a10 10 0 0 0-8.66 15h2.35A8 8 0 1 1 20 13.07a7.9 7.9 0 0 1-1.69 5.93h2.35A10 10 0 0 0 12 4Zm4.24 4.34-5.66 4.24a1.5 1.5 0 1 0 2.12 2.12l3.54-6.36Z"
      />
    </svg>
  );
}
