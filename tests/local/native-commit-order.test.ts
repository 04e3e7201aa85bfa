// On a native PostgreSQL many connections commit at once, so a transaction that wrote
// first may commit last. Realtime broadcasts and pg_net requests must still follow
// commits: delivered once committed, in commit order, never after a rollback.
// PGlite runs one transaction at a time, so this only runs with KONSTRUCT_DB set to
// `native` or a postgres:// URL (bash .ci/native.sh runs it).
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createClient, type WebSocketLikeConstructor } from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { nativeDb, startTestStack, type TestStack } from '../support/stack.ts'
import { until } from '../support/until.ts'

describe.skipIf(!nativeDb)('a native server: broadcasts and pg_net follow commits', () => {
  let stack: TestStack
  let hooks: Server
  let hooksUrl: string
  const received: string[] = []

  beforeAll(async () => {
    stack = await startTestStack()
    hooks = createServer((req, res) => {
      received.push(req.url ?? '')
      req.resume()
      res.end('ok')
    })
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', () => resolve()))
    hooksUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`
  }, 90_000)

  afterAll(async () => {
    await stack?.close()
    await new Promise<void>((resolve) => hooks?.close(() => resolve()))
  })

  /** Runs `first` in a transaction that stays open until `second` has committed. */
  async function interleave(first: string, second: string, end: 'commit' | 'rollback'): Promise<void> {
    let wrote!: () => void
    const written = new Promise<void>((resolve) => (wrote = resolve))
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    const outer = stack.db.asOwner(async (tx) => {
      await tx.exec(first)
      wrote()
      await released
      if (end === 'rollback') throw new Error('rolled back on purpose')
    })
    await written
    await stack.db.asOwner((tx) => tx.exec(second))
    release()
    if (end === 'rollback') await expect(outer).rejects.toThrow('rolled back on purpose')
    else await outer
  }

  it('delivers a broadcast written first but committed last, after the one committed first', async () => {
    const client = createClient(stack.url, stack.keys.anonKey, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      realtime: { transport: WebSocket as unknown as WebSocketLikeConstructor },
    })
    const events: string[] = []
    const channel = client.channel('native:order')
    channel.on('broadcast', { event: '*' }, (message) => events.push(message.event))
    const status = new Promise<string>((resolve) => channel.subscribe((s) => s !== 'CLOSED' && resolve(s)))
    expect(await status).toBe('SUBSCRIBED')

    const send = (event: string) => `select realtime.send('{}'::jsonb, '${event}', 'native:order', false)`
    await interleave(send('written_first'), send('committed_first'), 'commit')
    await interleave(send('rolled_back'), send('after_the_rollback'), 'rollback')
    await stack.db.asOwner((tx) => tx.exec(send('last')))

    await until(() => events.includes('last'), 'the last broadcast')
    expect(events).toEqual(['committed_first', 'written_first', 'after_the_rollback', 'last'])
    await client.removeAllChannels()
  })

  it('sends a pg_net request once its transaction commits, even when a later one committed first, never after a rollback', async () => {
    const post = (path: string) => `select net.http_post('${hooksUrl}/${path}', '{}'::jsonb)`
    await interleave(post('queued_first'), post('committed_first'), 'commit')
    await interleave(post('rolled_back'), post('after_the_rollback'), 'rollback')
    await stack.db.asOwner((tx) => tx.exec(post('last')))

    await until(
      () => ['/queued_first', '/committed_first', '/after_the_rollback', '/last'].every((p) => received.includes(p)),
      'the committed requests',
    )
    expect([...received].sort()).toEqual(['/after_the_rollback', '/committed_first', '/last', '/queued_first'])
  })
})
