/** JSX for the media-chrome and hls-video-element custom elements the player renders. */
import type * as preact from "preact";

type MediaElementProps = preact.JSX.HTMLAttributes<HTMLElement> & {
  [attribute: string]: unknown;
};

declare module "preact" {
  namespace JSX {
    interface IntrinsicElements {
      "media-controller": MediaElementProps;
      "media-control-bar": MediaElementProps;
      "media-play-button": MediaElementProps;
      "media-mute-button": MediaElementProps;
      "media-volume-range": MediaElementProps;
      "media-time-range": MediaElementProps;
      "media-time-display": MediaElementProps;
      "media-playback-rate-menu": MediaElementProps;
      "media-playback-rate-menu-button": MediaElementProps;
      "media-rendition-menu": MediaElementProps;
      "media-rendition-menu-button": MediaElementProps;
      "media-captions-menu": MediaElementProps;
      "media-captions-menu-button": MediaElementProps;
      "media-pip-button": MediaElementProps;
      "media-fullscreen-button": MediaElementProps;
      "media-loading-indicator": MediaElementProps;
      "media-poster-image": MediaElementProps;
      "hls-video": MediaElementProps;
    }
  }
}
