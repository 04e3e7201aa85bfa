// The Phoenix wire formats @supabase/realtime-js speaks, as Supabase Realtime's
// serializers read and write them:
//   vsn 1.0.0  JSON objects {topic, event, payload, ref[, join_ref]}; the server
//              never writes join_ref (Phoenix's V1 serializer drops it).
//   vsn 2.0.0  JSON arrays [join_ref, ref, topic, event, payload], plus Realtime's
//              binary broadcast frames: kind 3 "user broadcast push" from the
//              client, kind 4 "user broadcast" to the client.

export type Vsn = '1.0.0' | '2.0.0'
export const SUPPORTED_VSNS: readonly Vsn[] = ['1.0.0', '2.0.0']

/** A client broadcast that came in as a binary kind 3 frame. */
export interface UserBroadcastPush {
  kind: 'user_broadcast_push'
  userEvent: string
  encoding: 'json' | 'binary'
  data: Buffer
  metadata: Record<string, unknown>
}

export interface InboundMessage {
  joinRef: string | null
  ref: string | null
  topic: string
  event: string
  /** Parsed JSON, or a UserBroadcastPush for binary broadcasts. */
  payload: unknown
}

export interface OutboundMessage {
  joinRef: string | null
  ref: string | null
  topic: string
  event: string
  payload: unknown
}

/** A client broadcast as it is fanned out: kind 4 on vsn 2, JSON on vsn 1. */
export interface UserBroadcast {
  topic: string
  userEvent: string
  encoding: 'json' | 'binary'
  data: Buffer
}

export class ProtocolError extends Error {}

const KIND_PUSH = 0
const KIND_USER_BROADCAST_PUSH = 3
const KIND_USER_BROADCAST = 4
const ENCODING_BINARY = 0
const ENCODING_JSON = 1

export function isUserBroadcastPush(payload: unknown): payload is UserBroadcastPush {
  return (
    typeof payload === 'object' && payload !== null && (payload as UserBroadcastPush).kind === 'user_broadcast_push'
  )
}

function refOrNull(value: unknown): string | null {
  if (value === null || value === undefined) return null
  return String(value)
}

export function decodeFrame(vsn: Vsn, data: Buffer, isBinary: boolean): InboundMessage {
  if (isBinary) {
    if (vsn !== '2.0.0') throw new ProtocolError('binary frames need vsn 2.0.0')
    return decodeBinary(data)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(data.toString('utf8'))
  } catch {
    throw new ProtocolError('frame is not JSON')
  }
  if (vsn === '2.0.0') {
    if (!Array.isArray(parsed) || parsed.length < 5) throw new ProtocolError('expected V2 array')
    const [joinRef, ref, topic, event, payload] = parsed as unknown[]
    if (typeof topic !== 'string' || typeof event !== 'string')
      throw new ProtocolError('topic and event must be strings')
    return { joinRef: refOrNull(joinRef), ref: refOrNull(ref), topic, event, payload }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ProtocolError('expected V1 object')
  const { topic, event, payload, ref, join_ref: joinRef } = parsed as Record<string, unknown>
  if (typeof topic !== 'string' || typeof event !== 'string') throw new ProtocolError('topic and event must be strings')
  return { joinRef: refOrNull(joinRef), ref: refOrNull(ref), topic, event, payload }
}

function decodeBinary(data: Buffer): InboundMessage {
  const kind = data[0]
  if (kind === KIND_USER_BROADCAST_PUSH) {
    // kind, join_ref, ref, topic, user event, metadata sizes, payload encoding
    if (data.length < 7) throw new ProtocolError('truncated user broadcast push')
    const sizes = [data[1], data[2], data[3], data[4], data[5]]
    const encoding = data[6] === ENCODING_BINARY ? 'binary' : 'json'
    let offset = 7
    // realtime-js writes these header strings one char code per byte.
    const fields = sizes.map((size) => {
      if (offset + size > data.length) throw new ProtocolError('truncated user broadcast push')
      const text = data.toString('latin1', offset, offset + size)
      offset += size
      return text
    })
    const [joinRef, ref, topic, userEvent, metadataText] = fields
    let metadata: Record<string, unknown> = {}
    if (metadataText) {
      try {
        metadata = JSON.parse(metadataText) as Record<string, unknown>
      } catch {
        throw new ProtocolError('broadcast metadata is not JSON')
      }
    }
    const push: UserBroadcastPush = {
      kind: 'user_broadcast_push',
      userEvent,
      encoding,
      data: Buffer.from(data.subarray(offset)),
      metadata,
    }
    return { joinRef: joinRef || null, ref: ref || null, topic, event: 'broadcast', payload: push }
  }
  if (kind === KIND_PUSH) throw new ProtocolError('binary pushes are not supported by the local stack')
  throw new ProtocolError(`unknown binary frame kind ${kind}`)
}

export function encodeMessage(vsn: Vsn, message: OutboundMessage): string {
  if (vsn === '2.0.0') {
    return JSON.stringify([message.joinRef, message.ref, message.topic, message.event, message.payload])
  }
  return JSON.stringify({ topic: message.topic, event: message.event, payload: message.payload, ref: message.ref })
}

/**
 * Encodes a client broadcast for a subscriber. vsn 1 sockets get it converted to a
 * JSON broadcast; they cannot carry binary payloads, so those are skipped (null).
 */
export function encodeUserBroadcast(vsn: Vsn, message: UserBroadcast): Buffer | string | null {
  if (vsn === '2.0.0') {
    const topic = Buffer.from(message.topic, 'utf8')
    const userEvent = Buffer.from(message.userEvent, 'utf8')
    if (topic.length > 255 || userEvent.length > 255) return null
    const header = Buffer.from([
      KIND_USER_BROADCAST,
      topic.length,
      userEvent.length,
      0, // metadata size: none is forwarded
      message.encoding === 'json' ? ENCODING_JSON : ENCODING_BINARY,
    ])
    return Buffer.concat([header, topic, userEvent, message.data])
  }
  if (message.encoding === 'binary') return null
  let payload: unknown
  try {
    payload = JSON.parse(message.data.toString('utf8'))
  } catch {
    return null
  }
  return encodeMessage(vsn, {
    joinRef: null,
    ref: null,
    topic: message.topic,
    event: 'broadcast',
    payload: { type: 'broadcast', event: message.userEvent, payload },
  })
}
