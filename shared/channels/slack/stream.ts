// Slack's native streaming of an answer (chat.startStream, chat.appendStream,
// chat.stopStream; the calls are in ./web-api.ts): one message in a thread, written in
// standard Markdown (`markdown_text`, at most 12,000 characters per call), that grows with
// each append and is closed by stop, which may add blocks (the confirmation buttons) at
// its end. Where Slack refuses it, delivery falls back to the "Thinking…" placeholder.

import { SlackApiError } from './web-api.ts'

/** Slack's limit on `markdown_text` in one call. */
export const STREAM_TEXT_LIMIT = 12_000

/** Answers that mean streaming is not available for this app, workspace or conversation. */
const STREAMING_REFUSALS = new Set([
  'not_allowed',
  'unknown_method',
  'method_not_supported_for_channel_type',
  'feature_not_enabled',
  'not_supported',
  'missing_scope',
  'invalid_arguments',
  'no_text',
])

export function streamingRefused(error: unknown): boolean {
  return error instanceof SlackApiError && STREAMING_REFUSALS.has(error.code)
}

/** Splits Markdown into pieces Slack takes in one call; appended pieces join seamlessly. */
export function streamPieces(markdown: string, limit = STREAM_TEXT_LIMIT): string[] {
  const pieces: string[] = []
  for (let i = 0; i < markdown.length; i += limit) pieces.push(markdown.slice(i, i + limit))
  return pieces
}
