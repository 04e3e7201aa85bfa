// Web search end to end, through the real agent-worker under Deno: the platform's
// operator configures a provider in the environment (here a fake SearXNG on 127.0.0.1,
// as a self-hoster runs one beside the platform), the demo agent has web_search switched
// on, and the fake model asks for the tool. What a customer and an admin would notice:
// the reply carries the pages' links; a failing provider gives the model a clear tool
// error and the customer still gets an answer; the provider's URL is the operator's alone
// (a tenant's setting cannot name one, a redirect cannot lead elsewhere).
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startFakeSearch, type FakeSearch } from '../fakes/fake-search.ts'
import { startRecordingServer, type RecordingServer } from '../fakes/recording-server.ts'
import { AGENT, WEB_CHAT, startAgentScenario, until, type AgentScenario } from '../support/agent-scenario.ts'

let s: AgentScenario
let search: FakeSearch
// A private address that is not the configured provider (think: a metadata service).
let elsewhere: RecordingServer<never>
let counter = 0

beforeAll(async () => {
  search = await startFakeSearch()
  elsewhere = await startRecordingServer<never>(() => ({ status: 200, body: { secret: 'instance credentials' } }))
  s = await startAgentScenario({ KONSTRUCT_WEB_SEARCH_URL: search.url, TOOL_TIMEOUT_MS: '5000' })
  await setAgentTools({ knowledge_search: {}, escalate_to_human: {}, web_search: {} })
}, 90_000)

afterAll(async () => {
  await s?.close()
  await search?.close()
  await elsewhere?.close()
})

async function setAgentTools(tools: Record<string, unknown>) {
  await s.sql(`update app.agents set tools = $2::jsonb where id = $1`, [AGENT, JSON.stringify(tools)])
}

/** A web chat message through the service api (what functions/web-chat does). */
async function ask(text: string) {
  const n = ++counter
  const { data, error } = await s.service.rpc('ingest_message', {
    connection_id: WEB_CHAT,
    external_id: `web-search-${n}-${Date.now()}`,
    thread_key: `web-search-visitor-${n}`,
    external_user_id: `web-search-visitor-${n}`,
    text,
  })
  if (error) throw new Error(`ingest failed: ${error.message}`)
  return data as { message_id: string; conversation_id: string }
}

const deliveredReply = (conversationId: string) =>
  until(
    async () => (await s.outbound(conversationId)).find((m) => m.delivery_status === 'sent'),
    'a delivered reply',
    30_000,
  )

/** The tool message the model was given back for the conversation's question. */
function toolResultSentToModel(question: string): any {
  const body = s.openai
    .chatRequests()
    .find((b) => JSON.stringify(b.messages).includes(question) && b.messages.some((m: any) => m.role === 'tool'))
  const tool = body?.messages.find((m: any) => m.role === 'tool')
  return tool ? JSON.parse(tool.content) : undefined
}

const toolCallsOf = (conversationId: string) =>
  s.sql<{ tool_name: string; status: string }>(
    `select tool_name, status from app.tool_calls where conversation_id = $1 order by created_at, id`,
    [conversationId],
  )

describe('web search', () => {
  test('the model searches, and the reply carries the links of the pages it read', async () => {
    const question = 'Is the harbour ferry running during the storm today?'
    s.openai.enqueue(
      { toolCalls: [{ name: 'web_search', arguments: { query: 'harbour ferry storm' } }] },
      // The model answers without citing: the platform lists the pages anyway.
      { text: 'The ferry is suspended until the storm passes.' },
    )
    const before = search.requests.length
    const { conversation_id } = await ask(question)
    const reply = await deliveredReply(conversation_id)

    const sent = search.requests.slice(before)
    expect(sent).toHaveLength(1)
    expect(sent[0]).toMatchObject({
      method: 'GET',
      path: '/search',
      query: { q: 'harbour ferry storm', format: 'json' },
    })

    expect(reply.text).toContain('The ferry is suspended until the storm passes.')
    expect(reply.text).toContain('https://guide.example.org/harbour-ferry-storm')
    expect(reply.text).toContain('https://news.example.net/harbour-ferry-storm?page=1')
    expect(toolResultSentToModel(question).results[0]).toEqual({
      title: 'harbour ferry storm: the guide',
      url: 'https://guide.example.org/harbour-ferry-storm',
      snippet: 'All about harbour ferry storm.',
    })
    expect(await toolCallsOf(conversation_id)).toEqual([{ tool_name: 'web_search', status: 'succeeded' }])
  })

  test('a reply that cites a page itself is left as the model wrote it', async () => {
    const question = 'Where can I read about tide tables?'
    s.openai.enqueue(
      { toolCalls: [{ name: 'web_search', arguments: { query: 'tide tables' } }] },
      { text: 'See https://guide.example.org/tide-tables for the tables.' },
    )
    const { conversation_id } = await ask(question)
    const reply = await deliveredReply(conversation_id)
    expect(reply.text).toBe('See https://guide.example.org/tide-tables for the tables.')
  })

  test('a failing provider gives the model a clear tool error, and the customer still gets an answer', async () => {
    const question = 'What is the weather at the pier?'
    search.failNext({ status: 502 })
    s.openai.enqueue(
      { toolCalls: [{ name: 'web_search', arguments: { query: 'pier weather' } }] },
      { text: "I couldn't look that up right now." },
    )
    const { conversation_id } = await ask(question)
    const reply = await deliveredReply(conversation_id)
    expect(reply.text).toBe("I couldn't look that up right now.")
    expect(toolResultSentToModel(question)).toEqual({
      error: 'web search failed: the web search provider answered with status 502',
    })
    expect(await toolCallsOf(conversation_id)).toEqual([{ tool_name: 'web_search', status: 'failed' }])
  })

  test('the configured provider may be local, but a redirect to another private address is refused', async () => {
    const question = 'Any news about the lighthouse?'
    search.failNext({ redirectTo: `${elsewhere.url}/latest/meta-data` })
    s.openai.enqueue(
      { toolCalls: [{ name: 'web_search', arguments: { query: 'lighthouse news' } }] },
      { text: 'Nothing found.' },
    )
    const { conversation_id } = await ask(question)
    await deliveredReply(conversation_id)
    expect(elsewhere.requests).toHaveLength(0)
    expect(toolResultSentToModel(question).error).toMatch(
      /^web search failed: the web search provider could not be reached/,
    )
  })

  test("a tenant's settings cannot name the provider: such a web_search entry is left out", async () => {
    await setAgentTools({ knowledge_search: {}, web_search: { url: elsewhere.url } })
    try {
      const question = 'Search the web for cheap flights please'
      s.openai.enqueue(
        { toolCalls: [{ name: 'web_search', arguments: { query: 'cheap flights' } }] },
        { text: 'I cannot search the web.' },
      )
      const before = search.requests.length
      const { conversation_id } = await ask(question)
      await deliveredReply(conversation_id)
      const offered = s.openai
        .chatRequests()
        .find((b) => JSON.stringify(b.messages).includes(question))
        ?.tools?.map((t: any) => t.function.name)
      expect(offered).toEqual(['knowledge_search'])
      expect(toolResultSentToModel(question)).toEqual({ error: 'no tool named web_search is available' })
      expect(search.requests.length).toBe(before)
      expect(elsewhere.requests).toHaveLength(0)
    } finally {
      await setAgentTools({ knowledge_search: {}, escalate_to_human: {}, web_search: {} })
    }
  })
})
