// Shapes of what the api schema returns to the portal (see the api functions in supabase/migrations).
// The agent settings format (model settings, tools, escalation rules) is owned by
// $shared/agent/settings.ts; its types come from there.
// The connection settings format (greeting, allowed origins, WhatsApp template …) is owned by
// $shared/channels/settings.ts.
import type { AgentTools, EscalationRule, ModelSettings } from '$shared/agent/settings.ts'
import type { ConnectionSettings } from '$shared/channels/settings.ts'

export type { AgentTools, ConnectionSettings, EscalationRule, ModelSettings }

/**
 * A settings column (jsonb) as the api returns it: whatever is stored, also a value
 * written by an older version or by hand. Read it through $shared/agent/settings.ts or
 * $shared/channels/settings.ts.
 */
export type StoredSettings = unknown

export type Role = 'owner' | 'admin' | 'operator'
export type ChannelKind = 'slack' | 'whatsapp' | 'web_chat'
export type ConversationStatus = 'open' | 'waiting_for_human' | 'human' | 'closed'

export interface TenantSummary {
  id: string
  name: string
  slug: string
  role: Role
  created_at: string
  /** A platform admin's read-only support view (not a member). */
  support?: boolean
}

export interface Tenant {
  id: string
  name: string
  slug: string
  model_settings: StoredSettings
  has_own_llm_key: boolean
  created_at: string
  my_role: Role
}

export interface AgentTemplate {
  key: string
  name: string
  description: string
  role: string
  tone: string
  tools: StoredSettings
  sort_order: number
}

export interface AgentSummary {
  id: string
  name: string
  role: string
  template_key: string | null
  status: 'active' | 'paused'
  model_settings: StoredSettings
  tools: StoredSettings
  monthly_token_budget: number | null
  tokens_used_this_month: number
  created_at: string
  updated_at: string
}

export interface Agent {
  id: string
  tenant_id: string
  template_key: string | null
  name: string
  role: string
  persona: string
  tone: string
  instructions: string
  model_settings: StoredSettings
  tools: StoredSettings
  escalation_rules: StoredSettings
  monthly_token_budget: number | null
  status: 'active' | 'paused'
  has_own_llm_key: boolean
  created_at: string
  updated_at: string
}

/** An agent with its settings read through the format (what does not fit left out): what the designer shows. */
export interface AgentWithSettings extends Omit<Agent, 'model_settings' | 'tools' | 'escalation_rules'> {
  model_settings: ModelSettings
  tools: AgentTools
  escalation_rules: EscalationRule[]
}

export interface Channel {
  id: string
  kind: ChannelKind
  name: string
  agent_id: string | null
  agent_name: string | null
  status: 'active' | 'disabled'
  slack_team_id: string | null
  slack_team_name: string | null
  slack_bot_user_id: string | null
  whatsapp_phone_number_id: string | null
  whatsapp_business_account_id: string | null
  whatsapp_display_phone_number: string | null
  widget_key: string | null
  has_token: boolean
  settings: StoredSettings
  created_at: string
  /** WhatsApp: when the token proved control of the number (its traffic arrives only then). */
  whatsapp_verified_at?: string | null
  /** WhatsApp: why the proof failed; null while pending or once proved. */
  whatsapp_verification_error?: string | null
}

/** channel_changed: a WhatsApp number's proof of control changed (never a token). */
export interface ChannelChangedEvent {
  id: string
  tenant_id: string
  kind: ChannelKind
  whatsapp_verified_at: string | null
  whatsapp_verification_error: string | null
}

/** A channel with its settings read through the format (what does not fit left out): what the Channels page shows. */
export interface ChannelWithSettings extends Omit<Channel, 'settings'> {
  settings: ConnectionSettings
  /** What of the stored settings did not fit, one line each. */
  settings_problems: string[]
  /** The web chat settings form's fields for these settings. */
  form: Record<string, string>
}

export interface ConversationRow {
  id: string
  connection_id: string
  connection_name: string | null
  channel: ChannelKind
  thread_key?: string
  contact_id: string | null
  contact_name: string | null
  agent_id: string | null
  agent_name: string | null
  status: ConversationStatus
  assigned_member_id: string | null
  escalation_reason: string | null
  last_message_at: string | null
  last_message_preview: string | null
  activity_at: string
  created_at: string
  /** A contact message past the caller's read mark. */
  unread?: boolean
  /** The agent of the conversation's channel (null: nobody answers it). */
  channel_agent_id?: string | null
  model_failure?: ModelFailure | null
  /** The portal's test chat: shown as Test, never counted toward the plan. */
  is_test?: boolean
}

/** An owner or admin a conversation can be assigned to (api.list_assignees). */
export interface Assignee {
  user_id: string
  email: string
  role: Role
  available: boolean
}

/** An internal note on a conversation (api.list_notes; never sent to the customer). */
export interface Note {
  id: string
  author_member_id: string | null
  text: string
  created_at: string
}

export interface CannedReply {
  id: string
  shortcut: string
  text: string
}

export interface Conversation {
  id: string
  tenant_id: string
  connection_id: string
  channel: ChannelKind
  thread_key: string
  contact_id: string | null
  contact_name: string | null
  /** The contact's picture (a Slack profile's); shown only from Slack's image hosts. */
  contact_avatar_url?: string | null
  agent_id: string | null
  status: ConversationStatus
  assigned_member_id: string | null
  escalation_reason: string | null
  last_message_at: string | null
  last_inbound_at: string | null
  last_message_preview: string | null
  channel_context: Record<string, unknown>
  model_failure: ModelFailure | null
  is_test?: boolean
  created_at: string
  updated_at: string
}

/** Why the agent could not answer a conversation (api.record_model_outcome). */
export interface ModelFailure {
  error: string | null
  status: number | null
  failures: number
  at: string
}

/** api.get_model_health: the banner when a tenant's model keeps failing. */
export interface ModelHealth {
  failing: boolean
  consecutive_failures: number
  failing_since: string | null
  last_error: string | null
  last_status: number | null
  last_conversation_id: string | null
}

/** api.get_tenant_suspension: a platform admin suspended the tenant. */
export interface Suspension {
  suspended: boolean
  suspended_at: string | null
  reason: string | null
}

/** An `alert.*` audit entry, broadcast live (app.broadcast_alert). */
export interface AlertEvent {
  audit_id: number
  tenant_id: string
  kind: string
  entity_type: string | null
  entity_id: string | null
  details: Record<string, unknown>
  created_at: string
}

export interface Message {
  id: string
  seq: number
  conversation_id?: string
  direction: 'in' | 'out'
  author_kind: 'contact' | 'agent' | 'member' | 'system'
  author_member_id: string | null
  agent_id: string | null
  text: string | null
  attachments: unknown[]
  delivery_status: string
  delivery_error?: string | null
  created_at: string
}

export type ToolCallStatus =
  'requested' | 'awaiting_confirmation' | 'confirmed' | 'cancelled' | 'succeeded' | 'failed' | 'refused'

/** api.list_tool_calls: what an agent's tool did in a conversation. */
export interface ToolCall {
  id: string
  message_id: string | null
  agent_id: string | null
  tool_name: string
  arguments: unknown
  status: ToolCallStatus
  result: unknown
  error: string | null
  created_at: string
  completed_at: string | null
}

export interface Member {
  user_id: string
  email: string
  role: Role
  joined_at: string
}

export interface Invitation {
  id: string
  email: string
  role: Role
  invited_by: string | null
  created_at: string
  expires_at: string
  accepted_at: string | null
  revoked_at: string | null
  status: 'pending' | 'accepted' | 'revoked' | 'expired'
}

export interface KnowledgeSource {
  id: string
  title: string
  kind: string
  uri: string | null
  status: string
  error: string | null
  chunk_count: number
  created_at: string
  updated_at: string
}

/** A passage of a knowledge source, as api.view_knowledge_source shows it. */
export interface KnowledgePassage {
  chunk_index: number
  /** The section it sits in, e.g. "Returns › Refunds"; null when the text has none. */
  heading: string | null
  content: string
  token_count: number | null
}

/** api.view_knowledge_source: a source and one keyset page of its passages. */
export interface KnowledgeSourceView {
  source: KnowledgeSource & { tenant_id: string }
  passages: KnowledgePassage[]
  /** Pass as after_index for the next page; null on the last. */
  next_after: number | null
}

export interface KnowledgeHit {
  chunk_id: string
  source_id: string
  source_title: string
  content: string
  score: number
}

export interface UsageRow {
  bucket: string
  label: string
  input_tokens: number
  output_tokens: number
  total_tokens: number
  cost_usd: number
  event_count: number
}

export interface AuditEntry {
  id: number
  actor_user_id: string | null
  actor_kind: string
  action: string
  entity_type: string | null
  entity_id: string | null
  details: Record<string, unknown>
  created_at: string
}

/** knowledge_source_changed (supabase/migrations/*_knowledge_and_memory.sql). */
export interface KnowledgeSourceChangedEvent {
  id: string
  tenant_id: string
  title: string
  kind: string
  uri: string | null
  status: string
  error: string | null
  chunk_count: number
  created_at: string
  updated_at: string
  operation: 'insert' | 'update' | 'delete'
}

/** Broadcast payloads from supabase/migrations/*_conversations_and_inbox.sql. */
export interface ConversationChangedEvent {
  id: string
  tenant_id: string
  connection_id: string
  channel: ChannelKind
  contact_id: string | null
  contact_name: string | null
  agent_id: string | null
  status: ConversationStatus
  assigned_member_id: string | null
  escalation_reason: string | null
  last_message_at: string | null
  last_message_preview: string | null
  model_failure?: ModelFailure | null
  is_test?: boolean
  created_at: string
  operation: 'insert' | 'update'
}

export interface MessageEvent extends Message {
  tenant_id: string
  conversation_id: string
  connection_id: string
}

export const canEdit = (role: Role | null | undefined): boolean => role === 'owner' || role === 'admin'

export const channelLabel: Record<ChannelKind, string> = { slack: 'Slack', whatsapp: 'WhatsApp', web_chat: 'Web chat' }

export const statusLabel: Record<ConversationStatus, string> = {
  open: 'Agent answering',
  waiting_for_human: 'Waiting for a human',
  human: 'Human handling',
  closed: 'Closed',
}

export interface ContactRow {
  id: string
  display_name: string | null
  email: string | null
  avatar_url: string | null
  channels: ChannelKind[]
  created_at: string
}

export interface ContactIdentity {
  id: string
  channel: ChannelKind
  external_user_id: string
  display_name: string | null
  avatar_url: string | null
  created_at: string
}

export interface ContactMemory {
  id: string
  content: string
  agent_id: string
  agent_name: string | null
  created_at: string
}

export interface ContactConversation {
  id: string
  channel: ChannelKind
  connection_name: string | null
  status: ConversationStatus
  last_message_at: string | null
  last_message_preview: string | null
}

export interface Contact {
  id: string
  tenant_id: string
  display_name: string | null
  email: string | null
  phone: string | null
  avatar_url: string | null
  created_at: string
  /** The contact this one was merged into (api.merge_contacts), else null. */
  merged_into: string | null
  identities: ContactIdentity[]
  conversations: ContactConversation[]
  memories: ContactMemory[]
}
