/** The Cache-Tag every cached asset of a video carries, so one API call purges them all, everywhere. */
export function videoCacheTag(videoId: string): string {
  return `streamlet-video-${videoId}`;
}
