import { fail } from '@sveltejs/kit'
import { z } from 'zod'
import { actionFailure, callApi, formString, loadFailure } from '$lib/server/api'
import type { CannedReply, Conversation, Member, Message, Note, ToolCall } from '$lib/types'
import type { Actions, PageServerLoad } from './$types'

export const load: PageServerLoad = async ({ locals, params, parent }) => {
  const { tenant } = await parent()
  try {
    const conversation = await callApi<Conversation>(locals, 'get_conversation', { conversation_id: params.id })
    if (conversation.tenant_id !== tenant.id) loadFailure(new Error('wrong tenant'))
    const [messages, toolCalls, notes, members, canned] = await Promise.all([
      callApi<Message[]>(locals, 'list_messages', { conversation_id: params.id, page_size: 200 }),
      callApi<ToolCall[]>(locals, 'list_tool_calls', { conversation_id: params.id }),
      callApi<Note[]>(locals, 'list_notes', { conversation_id: params.id }),
      callApi<Member[]>(locals, 'list_members', { tenant_id: tenant.id }),
      callApi<CannedReply[]>(locals, 'list_canned_replies', { tenant_id: tenant.id }),
    ])
    return {
      conversation,
      messages,
      toolCalls,
      notes,
      canned,
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

const textSchema = (what: string) =>
  z.string().trim().min(1, `Write ${what} first.`).max(4000, `Keep ${what} under 4000 characters.`)
const assignSchema = z.object({ member_id: z.union([z.literal('').transform(() => null), z.string().uuid()]) })

export const actions: Actions = {
  takeover: ({ locals, params }) => conversationCall(locals, 'takeover_conversation', params.id),
  release: ({ locals, params }) => conversationCall(locals, 'release_conversation', params.id),
  close: ({ locals, params }) => conversationCall(locals, 'close_conversation', params.id),
  reply: async ({ locals, params, request }) => {
    const form = await request.formData()
    const text = formString(form, 'text')
    const parsed = textSchema('a reply').safeParse(text)
    if (!parsed.success) return fail(400, { text, errors: { text: parsed.error.issues[0]!.message } })
    try {
      await callApi(locals, 'reply_as_member', {
        conversation_id: params.id,
        text: parsed.data,
        client_key: formString(form, 'client_key') || null,
      })
      return { done: 'reply' }
    } catch (e) {
      return actionFailure(e, 'text', { text })
    }
  },
  note: async ({ locals, params, request }) => {
    const text = formString(await request.formData(), 'text')
    const parsed = textSchema('a note').safeParse(text)
    if (!parsed.success) return fail(400, { form: 'note', text, errors: { note: parsed.error.issues[0]!.message } })
    try {
      await callApi(locals, 'add_note', { conversation_id: params.id, text: parsed.data })
      return { done: 'note' }
    } catch (e) {
      return actionFailure(e, 'note', { form: 'note', text })
    }
  },
  assign: async ({ locals, params, request }) => {
    const parsed = assignSchema.safeParse({ member_id: formString(await request.formData(), 'member_id') })
    if (!parsed.success) return fail(400, { errors: { assign: 'Choose someone from the list.' } })
    try {
      await callApi(locals, 'assign_conversation', { conversation_id: params.id, member_id: parsed.data.member_id })
      return { done: 'assign' }
    } catch (e) {
      return actionFailure(e, 'assign')
    }
  },
}
