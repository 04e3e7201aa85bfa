-- The permission matrix: every api function called by every persona, allowed or refused
-- with an exact error code, and a check that no api function is missing from it.
begin;
create extension if not exists pgtap with schema extensions;

-- Personas and two tenants with fixtures (rolled back with this file).
\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();

-- Who may call what. Columns: owner, admin, operator (tenant A), stranger (owner of
-- tenant B), platform (platform admin, in no tenant), anon, service (service_role).
-- 'ok' = allowed; otherwise the exact SQLSTATE of the refusal. Each call runs in its
-- own rolled-back subtransaction, so every cell starts from the same fixture.
create table tests.matrix (ord serial, fn text, call text, owner text, admin text, operator text, stranger text,
  platform text, anon text, service text);
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  -- tenants
  ('create_tenant', $$select api.create_tenant('New tenant')$$, 'ok', 'ok', 'ok', 'ok', 'ok', '42501', '42501'),
  ('list_my_tenants', $$select * from api.list_my_tenants()$$, 'ok', 'ok', 'ok', 'ok', 'ok', '42501', '42501'),
  ('get_tenant', $$select api.get_tenant('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('update_tenant', $$select api.update_tenant('{tenant}', 'Renamed')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  ('whoami', $$select api.whoami()$$, 'ok', 'ok', 'ok', 'ok', 'ok', '42501', '42501'),
  -- members
  ('list_members', $$select * from api.list_members('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('change_member_role', $$select api.change_member_role('{tenant}', '{member2}', 'admin')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  ('remove_member', $$select api.remove_member('{tenant}', '{member2}')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  ('leave_tenant', $$select api.leave_tenant('{tenant}')$$, 'KO001', 'ok', 'ok', '42501', '42501', '42501', '42501'),
  -- invitations
  ('create_invitation', $$select api.create_invitation('{tenant}', 'someone@example.test', 'operator')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  ('list_invitations', $$select * from api.list_invitations('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('revoke_invitation', $$select api.revoke_invitation('{invitation}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('resend_invitation', $$select api.resend_invitation('{invitation}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('preview_invitation', $$select api.preview_invitation('{invite_token}')$$, 'ok', 'ok', 'ok', 'ok', 'ok', '42501', '42501'),
  ('accept_invitation', $$select api.accept_invitation('{invite_token}')$$, 'KO004', 'KO004', 'KO004', 'KO004', 'KO004', '42501', '42501'),
  -- agents
  ('list_agent_templates', $$select * from api.list_agent_templates()$$, 'ok', 'ok', 'ok', 'ok', 'ok', '42501', '42501'),
  ('list_agents', $$select * from api.list_agents('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('get_agent', $$select api.get_agent('{agent}')$$, 'ok', 'ok', 'ok', 'P0002', 'ok', '42501', '42501'),
  ('create_agent', $$select api.create_agent('{tenant}', 'New agent')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  ('update_agent', $$select api.update_agent('{agent}', '{"name": "Renamed", "monthly_token_budget": 1000}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('pause_agent', $$select api.pause_agent('{agent}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('resume_agent', $$select api.resume_agent('{agent}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('delete_agent', $$select api.delete_agent('{agent}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('deploy_agent_template', $$select api.deploy_agent_template('{tenant}', 'office_manager')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  -- channels
  ('list_channels', $$select * from api.list_channels('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('create_web_chat_channel', $$select api.create_web_chat_channel('{tenant}', 'Another widget')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  ('create_whatsapp_channel', $$select api.create_whatsapp_channel('{tenant}', 'WA 2', '5559999', 'waba', 'secret-token')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  ('set_channel_token', $$select api.set_channel_token('{wa_channel}', 'rotated-token')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('update_channel', $$select api.update_channel('{web_channel}', 'Renamed widget')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('assign_channel_agent', $$select api.assign_channel_agent('{web_channel}', null)$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('set_channel_status', $$select api.set_channel_status('{web_channel}', 'disabled')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  -- conversations
  ('list_conversations', $$select * from api.list_conversations('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('get_conversation', $$select api.get_conversation('{conv}')$$, 'ok', 'ok', 'ok', 'P0002', 'ok', '42501', '42501'),
  ('list_messages', $$select * from api.list_messages('{conv}')$$, 'ok', 'ok', 'ok', 'P0002', 'ok', '42501', '42501'),
  ('takeover_conversation', $$select api.takeover_conversation('{conv}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('release_conversation', $$select api.release_conversation('{conv}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('close_conversation', $$select api.close_conversation('{conv}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('reply_as_member', $$select api.reply_as_member('{conv}', 'A human here')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  -- knowledge
  ('list_knowledge_sources', $$select * from api.list_knowledge_sources('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('create_knowledge_source', $$select api.create_knowledge_source('{tenant}', 'Hours', 'We open at nine.')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  ('delete_knowledge_source', $$select api.delete_knowledge_source('{source}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('view_knowledge_source', $$select api.view_knowledge_source('{source}')$$, 'ok', 'ok', 'ok', 'P0002', 'ok', '42501', '42501'),
  ('search_knowledge', $$select * from api.search_knowledge('{tenant}', 'refunds')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', 'ok'),
  -- usage and audit
  ('usage_summary', $$select * from api.usage_summary('{tenant}', 'agent')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('get_dashboard', $$select api.get_dashboard('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('list_audit_log', $$select * from api.list_audit_log('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  -- service_role only
  ('resolve_slack_connection', $$select api.resolve_slack_connection('T0NOPE')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('ingest_slack_message', $$select api.ingest_slack_message('T0NOPE', 'U0NOPE', false, 'C1:1.0', 'C1:1.0', 'U1', 'hi')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('ingest_slack_messages', $$select api.ingest_slack_messages('[{"team_id": "T0NOPE", "external_id": "C1:1.0", "thread_key": "C1:1.0", "external_user_id": "U1", "text": "hi"}]')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('resolve_whatsapp_connection', $$select api.resolve_whatsapp_connection('5550001', 'waba-a')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('ingest_whatsapp_message', $$select api.ingest_whatsapp_message('5550999', 'waba-none', 'wamid.none', '15550000000', 'hi')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('take_widget_allowance', $$select api.take_widget_allowance('{web_channel}', 'visitor-m', '203.0.113.9')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('confirm_whatsapp_channel', $$select api.confirm_whatsapp_channel('{wa_channel}', array['5550001'])$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('resolve_widget_connection', $$select api.resolve_widget_connection('{widget_key}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('get_channel_token', $$select api.get_channel_token('{wa_channel}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('save_slack_installation', $$select api.save_slack_installation('{tenant}', 'T0NEW', 'U0BOT', 'xoxb-new')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('disable_slack_installation', $$select api.disable_slack_installation('T0NEW')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('ingest_message', $$select api.ingest_message('{web_channel}', 'ext-matrix', 'visitor-m', 'visitor-m', 'hi')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('claim_jobs', $$select * from api.claim_jobs('agent_jobs', 5, 30)$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('complete_job', $$select api.complete_job('agent_jobs', {job}, '{tenant}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('fail_job', $$select api.fail_job('agent_jobs', {job}, '{tenant}', 'boom')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('enqueue_job', $$select api.enqueue_job('agent_jobs', '{"kind": "distil_memories", "tenant_id": "{tenant}"}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('get_agent_context', $$select api.get_agent_context('{tenant}', '{conv}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('get_llm_key', $$select api.get_llm_key('{tenant}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('set_llm_key', $$select api.set_llm_key('{tenant}', 'sk-tenant')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('record_reply', $$select api.record_reply('{tenant}', '{conv}', 'Hello', 'job:matrix')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('set_delivery_status', $$select api.set_delivery_status('{tenant}', '{reply}', 'sent', 'ext-out-1')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('record_delivery_status', $$select api.record_delivery_status('{wa_channel}', 'wamid.unknown', 'read')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('record_usage', $$select api.record_usage('{tenant}', 'gpt-4o-mini', 10, 5)$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('record_tool_call', $$select api.record_tool_call('{tenant}', '{conv}', 'escalate_to_human', '{}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('update_tool_call', $$select api.update_tool_call('{tenant}', '{tool_call}', 'succeeded', '{"passages": 1}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('record_audit', $$select api.record_audit('{tenant}', 'model.called')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('escalate_conversation', $$select api.escalate_conversation('{tenant}', '{conv}', 'asked for a human')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('save_memory', $$select api.save_memory('{tenant}', '{contact}', '{agent}', 'Lives in Lyon')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('get_knowledge_source', $$select api.get_knowledge_source('{tenant}', '{source}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('replace_knowledge_chunks', $$select api.replace_knowledge_chunks('{tenant}', '{source}', '[{"content": "New passage"}]')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('set_knowledge_source_status', $$select api.set_knowledge_source_status('{tenant}', '{source}', 'failed', 'parse error')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  -- service functions of the channel functions and the agent worker (their own migrations;
  -- rows of functions not yet created are skipped below)
  ('find_reply', $$select api.find_reply('{tenant}', '{conv}', 'job:fixture')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('begin_delivery', $$select api.begin_delivery('{tenant}', '{reply}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('get_pending_confirmation', $$select api.get_pending_confirmation('{tenant}', '{conv}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('schedule_job', $$select api.schedule_job('agent_jobs', '{"kind": "distil_memories", "tenant_id": "{tenant}"}', 5)$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('begin_slack_install', $$select api.begin_slack_install('{tenant}', '{owner}', 'nonce-matrix-0123456789', now() + interval '10 minutes')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('consume_slack_install', $$select api.consume_slack_install('nonce-unknown')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'P0002'),
  ('find_conversation', $$select api.find_conversation('{web_channel}', 'visitor-a')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('web_chat_history', $$select api.web_chat_history('{web_channel}', 'visitor-a')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('web_chat_status', $$select api.web_chat_status('{web_channel}', 'visitor-a')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  -- The fixture's conversation is open: the service role gets as far as the rule that only a closed one is rated.
  ('rate_web_chat_conversation', $$select api.rate_web_chat_conversation('{web_channel}', 'visitor-a', 5)$$, '42501', '42501', '42501', '42501', '42501', '42501', '22023'),
  ('get_outbound_delivery', $$select api.get_outbound_delivery('{tenant}', '{reply}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('record_delivery_progress', $$select api.record_delivery_progress('{tenant}', '{reply}', '{"slack_ts": "1.0"}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('escalate_channel_thread', $$select api.escalate_channel_thread('{web_channel}', 'visitor-a', 'asked for a human')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  -- knowledge ingestion and hand-off DMs (knowledge_and_memory, channels)
  ('reprocess_knowledge_source', $$select api.reprocess_knowledge_source('{source}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('set_handoff_notifications', $$select api.set_handoff_notifications('{web_channel}', array['U0ADMIN1'])$$, '22023', '22023', '42501', 'P0002', '42501', '42501', '42501'),
  ('list_handoff_slack_targets', $$select api.list_handoff_slack_targets('{tenant}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok');

-- billing (20261201001000_billing.sql); prepare_checkout is
-- 22023 for owners and admins because the fixture's plans have no Stripe price yet.
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('list_plans', $$select * from api.list_plans()$$, 'ok', 'ok', 'ok', 'ok', 'ok', '42501', 'ok'),
  ('upsert_plan', $$select api.upsert_plan('{"key": "matrix_plan", "name": "Matrix", "included_agents": 4}')$$, '42501', '42501', '42501', '42501', 'ok', '42501', 'ok'),
  ('set_billing_settings', $$select api.set_billing_settings('free', '7 days')$$, '42501', '42501', '42501', '42501', 'ok', '42501', 'ok'),
  ('get_billing', $$select api.get_billing('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('prepare_checkout', $$select api.prepare_checkout('{tenant}', 'team', 2)$$, '22023', '22023', '42501', '42501', '42501', '42501', '42501'),
  ('prepare_billing_portal', $$select api.prepare_billing_portal('{tenant}')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  ('save_stripe_customer', $$select api.save_stripe_customer('{tenant}', 'cus_Matrix1')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('apply_stripe_event', $$select api.apply_stripe_event('{"id": "evt_matrix", "type": "invoice.paid", "created": 1764150000, "customer": "cus_nobody"}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('check_entitlement', $$select api.check_entitlement('{tenant}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('claim_meter_reports', $$select * from api.claim_meter_reports(10, 30)$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('complete_meter_reports', $$select api.complete_meter_reports(array[1]::bigint[])$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('fail_meter_reports', $$select api.fail_meter_reports(array[1]::bigint[], 'boom')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok');

-- the worker's entitlement check (billing)
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('enforce_reply_entitlement', $$select api.enforce_reply_entitlement('{tenant}', '{conv}', '{message}', 'reply:matrix')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok');

-- the worker's superseded check (ingest_and_delivery)
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('reply_superseded_by', $$select api.reply_superseded_by('{tenant}', '{conv}', '{message}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok');

-- the worker's reply in fewer calls (reply_in_fewer_calls)
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('prepare_reply', $$select api.prepare_reply('{tenant}', '{conv}', '{message}', 'reply:matrix', 20, 8, 5)$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('claim_jobs_with_context', $$select * from api.claim_jobs_with_context('agent_jobs', 5, 30, '{"message_limit": 20, "memory_limit": 8, "knowledge_limit": 5}', true)$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('finish_reply', $$select api.finish_reply('{tenant}', '{conv}', '{"text": "Hello", "idempotency_key": "reply:matrix"}', sent_on_record => true)$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('settle_delivery', $$select api.settle_delivery('{tenant}', '{reply}', 'sent', 'ext-out-2', null, 'agent_jobs', {job})$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok');

-- several replies finished in one call (finish_replies)
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('finish_replies', $$select api.finish_replies('[{"tenant_id": "{tenant}", "conversation_id": "{conv}", "reply": {"text": "Hello", "idempotency_key": "reply:matrix"}, "sent_on_record": true}]')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok');

-- portal follow-ups (conversations_and_inbox, knowledge_and_memory, agents)
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('list_tool_calls', $$select * from api.list_tool_calls('{conv}')$$, 'ok', 'ok', 'ok', 'P0002', 'ok', '42501', '42501'),
  ('set_tenant_llm_key', $$select api.set_tenant_llm_key('{tenant}', 'sk-tenant-own')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501');

-- model alerts (agents)
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('record_model_outcome', $$select api.record_model_outcome('{tenant}', false, '{conv}', 'http (HTTP 401)', 401)$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('get_model_health', $$select api.get_model_health('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501');

-- the inbox (conversations_and_inbox)
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('assign_conversation', $$select api.assign_conversation('{conv}', '{admin}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('signal_typing', $$select api.signal_typing('{conv}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('mark_conversation_read', $$select api.mark_conversation_read('{conv}')$$, 'ok', 'ok', 'ok', 'P0002', 'ok', '42501', '42501'),
  ('set_my_availability', $$select api.set_my_availability('{tenant}', false)$$, 'ok', 'ok', 'ok', '42501', '42501', '42501', '42501'),
  ('list_assignees', $$select * from api.list_assignees('{tenant}')$$, 'ok', 'ok', 'ok', 'ok', 'ok', '42501', '42501'),
  ('list_notes', $$select * from api.list_notes('{conv}')$$, 'ok', 'ok', 'ok', 'P0002', 'ok', '42501', '42501'),
  ('add_note', $$select api.add_note('{conv}', 'Called them back')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('list_canned_replies', $$select * from api.list_canned_replies('{tenant}')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('save_canned_reply', $$select api.save_canned_reply('{tenant}', 'refund', 'Refunds take 5 days.')$$, 'ok', 'ok', '42501', '42501', '42501', '42501', '42501'),
  ('delete_canned_reply', $$select api.delete_canned_reply('{canned}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501');

-- the platform console (platform_console)
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('grant_platform_admin', $$select api.grant_platform_admin('invitee@tests.konstruct.local')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('revoke_platform_admin', $$select api.revoke_platform_admin('platform@tests.konstruct.local')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('platform_list_tenants', $$select * from api.platform_list_tenants()$$, '42501', '42501', '42501', '42501', 'ok', '42501', '42501'),
  ('platform_get_tenant', $$select api.platform_get_tenant('{tenant}')$$, '42501', '42501', '42501', '42501', 'ok', '42501', '42501'),
  ('suspend_tenant', $$select api.suspend_tenant('{tenant}', 'spam reports')$$, '42501', '42501', '42501', '42501', 'ok', '42501', '42501'),
  ('resume_tenant', $$select api.resume_tenant('{tenant}')$$, '42501', '42501', '42501', '42501', 'ok', '42501', '42501'),
  ('begin_support_access', $$select api.begin_support_access('{tenant}', 'ticket 42')$$, '42501', '42501', '42501', '42501', 'ok', '42501', '42501'),
  ('get_tenant_suspension', $$select api.get_tenant_suspension('{tenant}')$$, 'ok', 'ok', 'ok', 'ok', 'ok', '42501', '42501');

-- the portal's test chat (channels): the web-chat function marks a
-- visitor once it verified a member's session beside the visitor's
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('begin_test_chat', $$select api.begin_test_chat('{web_channel}', 'matrix-visitor', '{operator}')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok');

-- contacts (20261206098000_contacts.sql): a visitor names itself through the widget (only
-- anonymous sessions, proven in contacts/contacts.test.sql), the worker records profiles
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('list_contacts', $$select * from api.list_contacts('{tenant}', 'visitor')$$, 'ok', 'ok', 'ok', '42501', 'ok', '42501', '42501'),
  ('get_contact', $$select api.get_contact('{contact}')$$, 'ok', 'ok', 'ok', 'P0002', 'ok', '42501', '42501'),
  ('rename_contact', $$select api.rename_contact('{contact}', 'Jane Roe')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('delete_memory', $$select api.delete_memory('{memory}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('record_contact_profile', $$select api.record_contact_profile('{tenant}', 'web_chat', 'visitor-a', 'Jane Roe')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('identity_profile_needed', $$select api.identity_profile_needed('{tenant}', 'web_chat', 'visitor-a')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok'),
  ('set_visitor_profile', $$select api.set_visitor_profile('{widget_key}', 'Jane Roe')$$, '42501', '42501', '42501', '42501', '42501', '42501', '42501');

-- merging contacts (20261206103000_contact_merge.sql): the fixture's visitor and a WhatsApp
-- user of tenant A; another tenant's contacts are refused in contacts/merge.test.sql
insert into tests.fx values ('contact_wa', (api.ingest_message(tests.get('wa_channel')::uuid, 'wamid.matrix', '15550077',
  '15550077', 'Hola') ->> 'contact_id'));
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('merge_contacts', $$select api.merge_contacts('{contact}', '{contact_wa}')$$, 'ok', 'ok', '42501', 'P0002', '42501', '42501', '42501'),
  ('web_chat_prechat_pending', $$select api.web_chat_prechat_pending('{web_channel}', 'visitor-a')$$, '42501', '42501', '42501', '42501', '42501', '42501', 'ok');

-- attachments shown in the inbox (20261206104000_attachments.sql): read as the member
insert into tests.matrix (fn, call, owner, admin, operator, stranger, platform, anon, service) values
  ('get_attachment', $$select api.get_attachment('{message}', 0)$$, 'ok', 'ok', 'ok', 'P0002', 'ok', '42501', '42501');

create table tests.cells as
select m.ord, p.ord as persona_ord, m.fn, p.persona, p.expected, tests.fill(m.call) as call
from tests.matrix m
cross join lateral (values (1, 'owner', m.owner), (2, 'admin', m.admin), (3, 'operator', m.operator),
  (4, 'stranger', m.stranger), (5, 'platform', m.platform), (6, 'anon', m.anon), (7, 'service', m.service))
  as p(ord, persona, expected)
where exists (select 1 from pg_proc f where f.pronamespace = 'api'::regnamespace and f.proname = m.fn);

select plan((select count(*)::integer from tests.cells) + 2);

select is(
  array(select p.proname::text from pg_proc p where p.pronamespace = 'api'::regnamespace
        except select m.fn from tests.matrix m order by 1),
  array[]::text[],
  'every api function has a row in the permission matrix');
select is(
  array(select m.fn from tests.matrix m group by m.fn having count(*) > 1 order by 1),
  array[]::text[],
  'no api function is listed twice');

select is(tests.outcome(c.persona, c.call), c.expected, format('%s as %s: %s', c.fn, c.persona, c.expected))
from tests.cells c
order by c.ord, c.persona_ord;

select * from finish();
rollback;
