// What app.messages.attachments holds for a file a customer sent, whichever channel it
// came by: enough to show it (kind, type, name, size, caption) and to fetch its bytes later
// from the channel that keeps them (WhatsApp's media id, Slack's file id and private URL).
// Nothing is copied at ingest: the bytes stay with the channel and the portal fetches them
// on demand through the channel-media function (./media.ts).
import { z } from 'zod'
import { isRecord, numberField, stringField, type JsonRecord } from './payload-fields.ts'

export const ATTACHMENT_KINDS = ['image', 'video', 'audio', 'document', 'sticker'] as const
export type AttachmentKind = (typeof ATTACHMENT_KINDS)[number]

const common = {
  type: z.enum(ATTACHMENT_KINDS),
  mime_type: z.string().nullish(),
  filename: z.string().nullish(),
  caption: z.string().nullish(),
  /** Bytes, when the channel said (Slack does; WhatsApp tells only when the media is fetched). */
  size: z.number().int().nonnegative().nullish(),
  width: z.number().int().positive().nullish(),
  height: z.number().int().positive().nullish(),
}

export const whatsAppAttachmentSchema = z.object({ ...common, whatsapp_media_id: z.string().min(1) })
export const slackAttachmentSchema = z.object({
  ...common,
  slack_file_id: z.string().min(1),
  slack_url_private: z.string().min(1),
})
export const attachmentSchema = z.union([whatsAppAttachmentSchema, slackAttachmentSchema])
export type Attachment = z.infer<typeof attachmentSchema>
export type WhatsAppAttachment = z.infer<typeof whatsAppAttachmentSchema>
export type SlackAttachment = z.infer<typeof slackAttachmentSchema>

/** The kind a MIME type is shown as. */
export function kindOfMimeType(mimeType: string | null | undefined): AttachmentKind {
  const major = (mimeType ?? '').split('/')[0]?.toLowerCase()
  return major === 'image' || major === 'video' || major === 'audio' ? major : 'document'
}

/**
 * One Slack file object (a message's `files`) as an attachment, or null when Slack gave no
 * private URL to fetch it from (an external file, a tombstone of a deleted one, a Slack
 * Connect file shown only after files.info).
 */
export function slackFileAttachment(file: JsonRecord): SlackAttachment | null {
  const id = stringField(file, 'id')
  const url = stringField(file, 'url_private')
  if (!id || !url || file['mode'] === 'tombstone' || file['is_external'] === true) return null
  const mimeType = stringField(file, 'mimetype') ?? null
  const positive = (key: string) => {
    const value = numberField(file, key)
    return value !== undefined && Number.isInteger(value) && value > 0 ? value : null
  }
  const size = numberField(file, 'size')
  return {
    type: kindOfMimeType(mimeType),
    slack_file_id: id,
    slack_url_private: url,
    mime_type: mimeType,
    filename: stringField(file, 'name') ?? stringField(file, 'title') ?? null,
    caption: stringField(file, 'alt_txt') ?? null,
    size: size !== undefined && Number.isInteger(size) && size >= 0 ? size : null,
    width: positive('original_w'),
    height: positive('original_h'),
  }
}

/** The attachments of a Slack message event's `files` array. */
export function slackFileAttachments(files: unknown): SlackAttachment[] {
  if (!Array.isArray(files)) return []
  return files.filter(isRecord).flatMap((file) => slackFileAttachment(file) ?? [])
}

/** Images a browser may show inline; everything else downloads (never SVG: it runs script). */
export const INLINE_IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp'])

/** The headers every served attachment carries: inline only for allowlisted images. */
export function attachmentHeaders(attachment: Attachment, bytes: number | null): Headers {
  const type = (attachment.mime_type ?? '').split(';')[0]!.trim().toLowerCase()
  const inline = INLINE_IMAGE_TYPES.has(type)
  const name = (attachment.filename ?? `${attachment.type}`).replace(/[\r\n"\\]/g, '_')
  const ascii = name.replace(/[^\x20-\x7e]/g, '_')
  const headers = new Headers({
    'content-type': inline ? type : 'application/octet-stream',
    'content-disposition': `${inline ? 'inline' : 'attachment'}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`,
    'x-content-type-options': 'nosniff',
    'content-security-policy': "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
    'cross-origin-resource-policy': 'same-origin',
    'cache-control': 'private, max-age=300',
    'referrer-policy': 'no-referrer',
  })
  if (bytes !== null) headers.set('content-length', String(bytes))
  return headers
}
