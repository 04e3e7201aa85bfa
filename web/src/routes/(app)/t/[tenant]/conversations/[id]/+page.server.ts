import { fail } from '@sveltejs/kit'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import type { AgentSummary, Conversation, Member, Message, ToolCall } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals, params, parent }) => {
  const { tenant } = await parent()
  try {
    const conversation = await callApi<Conversation>(locals, 'get_conversation', { conversation_id: params.id })
    if (conversation.tenant_id !== tenant.id) loadFailure(new Error('wrong tenant'))
    const [messages, toolCalls, agents, members] = await Promise.all([
      callApi<Message[]>(locals, 'list_messages', { conversation_id: params.id, page_size: 200 }),
      callApi<ToolCall[]>(locals, 'list_tool_calls', { conversation_id: params.id }),
      callApi<AgentSummary[]>(locals, 'list_agents', { tenant_id: tenant.id }),
      callApi<Member[]>(locals, 'list_members', { tenant_id: tenant.id }),
    ])
    return {
      conversation,
      messages,
      toolCalls,
      agents: agents.map((a) => ({ id: a.id, name: a.name })),
      members: members.map((m) => ({ user_id: m.user_id, email: m.email })),
    }
  } catch (e) {
    loadFailure(e)
  }
}

async function conversationCall(locals: App.Locals, fn: string, id: string) {
  try {
    await callApi(locals, fn, { conversation_id: id })
    return { done: fn }
  } catch (e) {
    return actionFailure(e)
  }
}

export const actions: Actions = {
  takeover: ({ locals, params }) => conversationCall(locals, 'takeover_conversation', params.id),
  release: ({ locals, params }) => conversationCall(locals, 'release_conversation', params.id),
  close: ({ locals, params }) => conversationCall(locals, 'close_conversation', params.id),
  reply: async ({ locals, params, request }) => {
    const form = await request.formData()
    const text = formString(form, 'text')
    if (!text) return fail(400, { errors: { text: 'Write a reply first.' } })
    if (text.length > 4000) return fail(400, { text, errors: { text: 'Keep a reply under 4000 characters.' } })
    try {
      await callApi(locals, 'reply_as_member', {
        conversation_id: params.id,
        text,
        client_key: formString(form, 'client_key') || null,
      })
      return { done: 'reply' }
    } catch (e) {
      return actionFailure(e, 'text', { text })
    }
  },
}
