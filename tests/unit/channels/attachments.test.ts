// What a Slack file becomes in app.messages.attachments, whose URLs may receive a channel's
// token, how a served file is labelled, how the inbox draws a message's files, and what each
// kind of WhatsApp media becomes.
import { describe, expect, test } from 'vitest'
import { attachmentHeaders, slackFileAttachments } from '../../../shared/channels/attachments.ts'
import { tokenMayGoTo } from '../../../shared/channels/media.ts'
import { SLACK_FILE_HOSTS } from '../../../shared/channels/slack/files.ts'
import { META_MEDIA_HOSTS } from '../../../shared/channels/whatsapp/media.ts'
import { parseSlackEvent } from '../../../shared/channels/slack/events.ts'
import { showAttachments } from '../../../web/src/lib/attachments.ts'
import { createWhatsAppWebhookHandler } from '../../../shared/channels/handlers/whatsapp-webhook.ts'
import { signWhatsAppBody, whatsAppTextWebhook } from '../../fakes/fake-whatsapp.ts'

const slackFile = {
  id: 'F0123',
  name: 'screenshot.png',
  title: 'Screenshot',
  mimetype: 'image/png',
  filetype: 'png',
  size: 52_000,
  mode: 'hosted',
  is_external: false,
  original_w: 1600,
  original_h: 900,
  url_private: 'https://files.slack.com/files-pri/T1-F0123/screenshot.png',
}

describe('Slack files', () => {
  test('a file_share message carries its files as attachments', () => {
    const parsed = parseSlackEvent({
      type: 'event_callback',
      team_id: 'T1',
      event_id: 'Ev1',
      event: {
        type: 'message',
        subtype: 'file_share',
        channel_type: 'im',
        channel: 'D1',
        user: 'U1',
        text: 'see this',
        ts: '1.000001',
        files: [
          slackFile,
          { id: 'F0EXT', mode: 'external', is_external: true, url_private: 'https://drive.example/x' },
        ],
      },
    })
    expect(parsed.ok && parsed.event.type === 'message' && parsed.event.message.files).toEqual([
      {
        type: 'image',
        slack_file_id: 'F0123',
        slack_url_private: slackFile.url_private,
        mime_type: 'image/png',
        filename: 'screenshot.png',
        caption: null,
        size: 52_000,
        width: 1600,
        height: 900,
      },
    ])
  })

  test('tombstones and files without a private url are left out', () => {
    expect(slackFileAttachments([{ id: 'F1', mode: 'tombstone' }, { id: 'F2' }, 'nonsense', null])).toEqual([])
    expect(slackFileAttachments(undefined)).toEqual([])
  })
})

describe('where a token may go', () => {
  test.each([
    ['https://files.slack.com/files-pri/T1-F1/a.png', true],
    ['http://files.slack.com/files-pri/T1-F1/a.png', false],
    ['https://files.slack.com:8443/files-pri/T1-F1/a.png', false],
    ['https://files.slack.com.evil.example/a.png', false],
    ['https://evil.example/files.slack.com/a.png', false],
    ['https://user:pw@files.slack.com/a.png', false],
    ['https://slack.com/api/files.info', false],
    ['not a url', false],
  ])('Slack bot token to %s: %s', (url, allowed) => {
    expect(tokenMayGoTo(url, SLACK_FILE_HOSTS, null)).toBe(allowed)
  })

  test('Meta media hosts, and the operator-configured origin only as a whole origin', () => {
    expect(
      tokenMayGoTo('https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1', META_MEDIA_HOSTS, null),
    ).toBe(true)
    expect(tokenMayGoTo('https://fbsbx.com.evil.example/x', META_MEDIA_HOSTS, null)).toBe(false)
    expect(tokenMayGoTo('http://127.0.0.1:4000/media/1', META_MEDIA_HOSTS, 'http://127.0.0.1:4000')).toBe(true)
    expect(tokenMayGoTo('http://127.0.0.1:4001/media/1', META_MEDIA_HOSTS, 'http://127.0.0.1:4000')).toBe(false)
  })
})

describe('served files', () => {
  test('only allowlisted images are inline; SVG and HTML download as octet-stream', () => {
    const base = { slack_file_id: 'F1', slack_url_private: 'https://files.slack.com/x' }
    const png = attachmentHeaders({ ...base, type: 'image', mime_type: 'image/png', filename: 'a.png' }, 10)
    expect(png.get('content-type')).toBe('image/png')
    expect(png.get('content-disposition')).toMatch(/^inline/)
    for (const mime of ['image/svg+xml', 'text/html', 'application/pdf', null]) {
      const h = attachmentHeaders({ ...base, type: 'document', mime_type: mime, filename: 'x"\r\nSet-Cookie: a' }, null)
      expect(h.get('content-type')).toBe('application/octet-stream')
      expect(h.get('content-disposition')).toMatch(/^attachment; filename="x___Set-Cookie: a"/)
      expect(h.get('x-content-type-options')).toBe('nosniff')
      expect(h.get('content-security-policy')).toContain('sandbox')
    }
  })
})

describe('the inbox', () => {
  test('images get a box of their proportions and alt text; files their name and size', () => {
    const shown = showAttachments('m-1', [
      { type: 'image', whatsapp_media_id: 'x', mime_type: 'image/jpeg', caption: 'The hinge' },
      { ...slackFileAttachments([slackFile])[0] },
      { type: 'document', slack_file_id: 'F2', mime_type: 'application/pdf', filename: 'a.pdf', size: 1_572_864 },
      { type: 'image', whatsapp_media_id: 'y', mime_type: 'image/svg+xml' },
    ])
    expect(shown.map((s) => [s.href, s.inline, s.alt, s.size, s.width, s.height])).toEqual([
      ['/media/m-1/0', true, 'The hinge', null, 240, 180],
      ['/media/m-1/1', true, 'screenshot.png', '51 KB', 240, 135],
      ['/media/m-1/2', false, 'a.pdf', '1.5 MB', 240, 180],
      ['/media/m-1/3', false, 'Photo', null, 240, 180],
    ])
  })
})

describe('WhatsApp media', () => {
  test('image, document, audio, video and sticker are recorded with media id, type, name and caption', async () => {
    const ingested: Array<Record<string, unknown>> = []
    const rpc = (async (fn: string, args: Record<string, unknown> = {}) => {
      if (fn === 'resolve_whatsapp_connection') return { connection_id: 'c1', tenant_id: 't1', status: 'active' }
      if (fn === 'ingest_message') ingested.push(args)
      return { message_id: 'm', duplicate: false, enqueued: true }
    }) as never
    const handler = createWhatsAppWebhookHandler({ appSecret: 's', verifyToken: 'v', rpc, log: () => {} })
    const payload = whatsAppTextWebhook({ phoneNumberId: '1', from: '49', text: 'x' })
    const value = payload.entry[0]!.changes[0]!.value as Record<string, unknown>
    const media = (type: string, fields: Record<string, unknown>) => ({
      from: '49',
      id: `wamid.${type}`,
      timestamp: '1700000000',
      type,
      [type]: { id: `M-${type}`, ...fields },
    })
    value['messages'] = [
      media('image', { mime_type: 'image/jpeg', caption: 'Receipt' }),
      media('document', { mime_type: 'application/pdf', filename: 'a.pdf' }),
      media('audio', { mime_type: 'audio/ogg; codecs=opus', voice: true }),
      media('video', { mime_type: 'video/mp4' }),
      media('sticker', { mime_type: 'image/webp', animated: false }),
    ]
    const body = JSON.stringify(payload)
    const response = await handler(
      new Request('http://localhost/', {
        method: 'POST',
        headers: { 'x-hub-signature-256': signWhatsAppBody('s', body) },
        body,
      }),
    )
    expect(response.status).toBe(200)
    expect(ingested.map((args) => args['attachments'])).toEqual([
      [{ type: 'image', whatsapp_media_id: 'M-image', mime_type: 'image/jpeg', filename: null, caption: 'Receipt' }],
      [
        {
          type: 'document',
          whatsapp_media_id: 'M-document',
          mime_type: 'application/pdf',
          filename: 'a.pdf',
          caption: null,
        },
      ],
      [
        {
          type: 'audio',
          whatsapp_media_id: 'M-audio',
          mime_type: 'audio/ogg; codecs=opus',
          filename: null,
          caption: null,
        },
      ],
      [{ type: 'video', whatsapp_media_id: 'M-video', mime_type: 'video/mp4', filename: null, caption: null }],
      [{ type: 'sticker', whatsapp_media_id: 'M-sticker', mime_type: 'image/webp', filename: null, caption: null }],
    ])
    // Inline in the inbox: the photo and the sticker (webp); the rest are downloads.
    const shown = ingested.flatMap((args, i) => showAttachments(`m${i}`, args['attachments'] as unknown[]))
    expect(shown.map((s) => s.inline)).toEqual([true, false, false, false, true])
  })
})
