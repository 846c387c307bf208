/**
 * The owner's delivery settings, kept apart from the network so they can be tested in Node: which caption
 * languages and files the edge would take, how a caption list changes, and how each rung's quality reads.
 */
import { CaptionLanguage } from "@streamlet/shared";
import type { Caption, Rendition } from "../lib/api-types.ts";

/** Largest caption file the edge accepts (PUT /v1/videos/:id/captions/:language: 524288 bytes). */
export const MAX_CAPTION_BYTES = 512 * 1024;
/** Longest caption label the edge accepts (shared Caption.label). */
export const MAX_CAPTION_LABEL = 64;

/** Whether the edge would take `tag` as a caption language: the shared CaptionLanguage rule, no copy of it. */
export function isCaptionLanguage(tag: string): boolean {
  return CaptionLanguage.safeParse(tag).success;
}

/** A field of the caption form and what is wrong with it. */
export interface CaptionFormProblem {
  field: "file" | "language" | "label";
  message: string;
}

/** Why a caption upload cannot go out as it is, or null when it can (the edge checks the cues themselves). */
export function captionFormProblem(form: {
  file: { name: string; size: number } | null;
  language: string;
  label: string;
}): CaptionFormProblem | null {
  const file = (message: string) => ({ field: "file" as const, message });
  if (!form.file) return file("Choose a WebVTT (.vtt) or SRT (.srt) file.");
  if (form.file.size === 0) return file("That file is empty.");
  if (form.file.size > MAX_CAPTION_BYTES) return file("That file is larger than 512 KiB.");
  if (!form.language) {
    return { field: "language", message: "Enter the captions' language, such as en or pt-BR." };
  }
  if (!isCaptionLanguage(form.language)) {
    return {
      field: "language",
      message: `“${form.language}” is not a language tag: use one such as en, pt-BR or zh-Hant.`,
    };
  }
  if (form.label.length > MAX_CAPTION_LABEL) {
    return { field: "label", message: `The label is longer than ${MAX_CAPTION_LABEL} characters.` };
  }
  if (/["\r\n]/.test(form.label)) {
    return { field: "label", message: "The label cannot contain a double quote or a line break." };
  }
  return null;
}

/** The content type a caption file is sent as (the edge reads the format from the text itself). */
export function captionContentType(fileName: string): "text/vtt" | "application/x-subrip" | "text/plain" {
  if (/\.vtt$/i.test(fileName)) return "text/vtt";
  if (/\.srt$/i.test(fileName)) return "application/x-subrip";
  return "text/plain";
}

/** The list after `caption` was added or replaced (languages compare without case), sorted by language. */
export function withCaption(list: readonly Caption[], caption: Caption): Caption[] {
  const key = caption.language.toLowerCase();
  return [...list.filter((c) => c.language.toLowerCase() !== key), caption].sort((a, b) =>
    a.language.localeCompare(b.language),
  );
}

/** The list after the captions in `language` were deleted. */
export function withoutCaption(list: readonly Caption[], language: string): Caption[] {
  const key = language.toLowerCase();
  return list.filter((c) => c.language.toLowerCase() !== key);
}

/** SSIM as owners compare it: three decimals ("0.987"). */
export function formatSsim(ssim: number): string {
  return ssim.toFixed(3);
}

/** PSNR in decibels, one decimal ("41.2 dB"). */
export function formatPsnr(psnr: number): string {
  return `${psnr.toFixed(1)} dB`;
}

/** The rungs with a quality measurement, highest first (null when none has one: nothing to show). */
export function measuredRungs(renditions: readonly Rendition[]) {
  const measured = renditions.flatMap((r) => (r.quality ? [{ ...r, quality: r.quality }] : []));
  return measured.length ? measured.sort((a, b) => b.height - a.height) : null;
}

/** How many frames the measurements compared, in words ("12 sampled frames", "10-12 sampled frames"). */
export function framesCompared(rungs: readonly { quality: { frames: number } }[]): string {
  const frames = rungs.map((r) => r.quality.frames);
  const low = Math.min(...frames);
  const high = Math.max(...frames);
  if (high === low) return `${low} sampled frame${low === 1 ? "" : "s"}`;
  return `${low}–${high} sampled frames`;
}
