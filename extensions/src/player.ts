/** A looping clip player: click to play or pause; muted so it may autoplay. */
import { h } from './dom';

export interface PlayerOptions {
  controls?: boolean;
  autoplay?: boolean;
  poster?: string;
}

export function player(src: string, options: PlayerOptions = {}): HTMLVideoElement {
  const video = h('video', {
    class: 'cx-video',
    src,
    loop: true,
    playsinline: true,
    preload: 'auto',
    poster: options.poster,
    controls: options.controls ?? false
  });
  video.muted = true;
  if (options.autoplay ?? true) {
    video.autoplay = true;
  }
  if (!options.controls) {
    video.addEventListener('click', () => toggle(video));
  }
  return video;
}

export function toggle(video: HTMLVideoElement): void {
  if (video.paused) {
    void video.play().catch(() => undefined);
  } else {
    video.pause();
  }
}

/** The frame on screen: floor(currentTime * fps). */
export function currentFrame(video: HTMLVideoElement, fps: number | undefined): number {
  return Math.max(0, Math.floor(video.currentTime * (fps || 24) + 1e-6));
}
