// How the inbox shows the files of a message (app.messages.attachments, written by the
// channel handlers: $shared/channels/attachments.ts). Only what is needed to draw them:
// the bytes come from /media/<message>/<index>, which checks the reader and fetches them
// from the channel. Kept free of zod so the conversation page's script stays small.

/** The image types the media route serves inline (the same list as its headers). */
const INLINE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp'])
const KIND_WORDS: Record<string, string> = {
  image: 'Photo',
  video: 'Video',
  audio: 'Voice message',
  sticker: 'Sticker',
  document: 'File',
}

export interface ShownAttachment {
  href: string
  /** Shown inline as an image; otherwise a download link. */
  inline: boolean
  /** The file's name or, without one, what it is ("Photo"). */
  name: string
  /** Alt text of an image: its caption, else its name. */
  alt: string
  /** "1.2 MB", or null when the channel did not say. */
  size: string | null
  width: number
  height: number
}

const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : null)
const positive = (value: unknown) => (typeof value === 'number' && value > 0 ? Math.round(value) : null)

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`
  const mb = bytes / (1024 * 1024)
  return `${mb >= 10 ? Math.round(mb) : Math.round(mb * 10) / 10} MB`
}

/** The attachments of one message as the inbox draws them; unknown shapes are skipped. */
export function showAttachments(messageId: string, attachments: unknown[] | null | undefined): ShownAttachment[] {
  return (attachments ?? []).flatMap((raw, index) => {
    if (typeof raw !== 'object' || raw === null) return []
    const a = raw as Record<string, unknown>
    const kind = typeof a['type'] === 'string' ? a['type'] : 'document'
    const mime = (text(a['mime_type']) ?? '').split(';')[0]!.toLowerCase()
    const name = text(a['filename']) ?? KIND_WORDS[kind] ?? 'File'
    const size = positive(a['size'])
    // A box of the image's own proportions when the channel said them, else 4:3, so the
    // log does not jump when the bytes arrive.
    const w = positive(a['width'])
    const h = positive(a['height'])
    const width = 240
    const height = w && h ? Math.max(40, Math.min(320, Math.round((width * h) / w))) : 180
    return [
      {
        href: `/media/${encodeURIComponent(messageId)}/${index}`,
        inline: INLINE_TYPES.has(mime),
        name,
        alt: text(a['caption']) ?? name,
        size: size === null ? null : formatBytes(size),
        width,
        height,
      },
    ]
  })
}
