-- The inbox: hand-offs assigned round robin among available owners and admins, manual
-- assignment, views, unread marks per member, full-text search over every message,
-- internal notes that no channel and no agent prompt ever reads, canned replies.
begin;
create extension if not exists pgtap with schema extensions;
\ir ../helpers/two_tenants.psql
select tests.setup_two_tenants();
select plan(29);

-- Three more conversations of tenant A (web chat), and one of tenant B.
select tests.become('service');
create temp table convs as
select n, (api.ingest_message(tests.get('web_channel')::uuid, 'inbox-' || n, 'visitor-' || n, 'visitor-' || n,
  case n when 1 then 'My parcel never arrived' when 2 then 'Question about invoices' else 'Hello there' end,
  'Visitor ' || n) ->> 'conversation_id')::uuid as id
from generate_series(1, 3) n;
select api.ingest_message(tests.get('web_channel')::uuid, 'inbox-1b', 'visitor-1', 'visitor-1', 'Any news?', 'Visitor 1');
select api.ingest_message(tests.get('web_channel_b')::uuid, 'inbox-b1', 'visitor-b9', 'visitor-b9', 'My parcel is late', 'B visitor');
reset role;
grant select on convs to public;
create function tests.conv(n int) returns uuid language sql stable as $$ select id from convs where convs.n = conv.n $$;

-- Round robin ------------------------------------------------------------------------------
select tests.become('service');
select api.escalate_conversation(tests.get('tenant')::uuid, tests.conv(1), 'asked for a human');
select api.escalate_conversation(tests.get('tenant')::uuid, tests.conv(2), 'asked for a human');
select api.escalate_conversation(tests.get('tenant')::uuid, tests.conv(3), 'asked for a human');
reset role;
select ok((select assigned_member_id from app.conversations where id = tests.conv(1)) in (tests.uid('owner'), tests.uid('admin')),
  'the first hand-off goes to an owner or admin');
select isnt((select assigned_member_id from app.conversations where id = tests.conv(2)),
  (select assigned_member_id from app.conversations where id = tests.conv(1)),
  'the second goes to the other one: round robin');
select is((select assigned_member_id from app.conversations where id = tests.conv(3)),
  (select assigned_member_id from app.conversations where id = tests.conv(1)),
  'the third goes back to the first');
select ok(not exists (select 1 from app.conversations where assigned_member_id in (tests.uid('operator'), tests.uid('member2'))),
  'operators are never assigned');

select tests.become('admin');
select is(api.set_my_availability(tests.get('tenant')::uuid, false), false, 'a member can step out of the round robin');
reset role;
select tests.become('service');
update app.conversations set status = 'open', assigned_member_id = null where id = tests.conv(2);
select api.escalate_conversation(tests.get('tenant')::uuid, tests.conv(2), 'again');
reset role;
select is((select assigned_member_id from app.conversations where id = tests.conv(2)), tests.uid('owner'),
  'an unavailable admin is skipped');

-- Manual assignment ---------------------------------------------------------------------------
update app.conversations set assigned_member_id = null where tenant_id = tests.get('tenant')::uuid;
select tests.become('admin');
select is((api.assign_conversation(tests.conv(2), tests.uid('admin')) ->> 'assigned_member_id'), tests.uid('admin')::text,
  'an admin assigns a conversation to an admin');
select throws_ok(format($$select api.assign_conversation(%L, %L)$$, tests.conv(2), tests.uid('operator')), '22023', null,
  'an operator cannot be assigned');
select throws_ok(format($$select api.assign_conversation(%L, %L)$$, tests.conv(2), tests.uid('stranger')), '22023', null,
  'a member of another tenant cannot be assigned');
reset role;
select ok(exists (select 1 from app.audit_log where entity_id = tests.conv(2)::text and details::text like '%' || tests.uid('admin')::text || '%'),
  'the assignment is audited');

-- Views ------------------------------------------------------------------------------------------
select tests.become('admin');
select set_eq(format($$select id from api.list_conversations(%L, view => 'mine')$$, tests.get('tenant')),
  format($$values (%L::uuid)$$, tests.conv(2)), 'Mine: what is assigned to me');
select set_eq(format($$select id from api.list_conversations(%L, view => 'unassigned')$$, tests.get('tenant')),
  format($$values (%L::uuid), (%L::uuid), (%L::uuid)$$, tests.get('conv'), tests.conv(1), tests.conv(3)),
  'Unassigned: not closed and nobody''s');
select is((select count(*)::int from api.list_conversations(tests.get('tenant')::uuid, view => 'waiting')), 3,
  'Waiting for a human');
select api.close_conversation(tests.conv(3));
select set_eq(format($$select id from api.list_conversations(%L, view => 'closed')$$, tests.get('tenant')),
  format($$values (%L::uuid)$$, tests.conv(3)), 'Closed');
select ok(exists (select 1 from api.list_conversations(tests.get('tenant')::uuid, view => 'all') where id = tests.conv(3)),
  'All includes closed ones');
select throws_ok(format($$select * from api.list_conversations(%L, view => 'everything')$$, tests.get('tenant')), '22023', null,
  'an unknown view is refused');

-- Unread marks per member -------------------------------------------------------------------------
select is((select unread from api.list_conversations(tests.get('tenant')::uuid) where id = tests.conv(1)), true,
  'a new contact message is unread');
select api.mark_conversation_read(tests.conv(1));
select is((select unread from api.list_conversations(tests.get('tenant')::uuid) where id = tests.conv(1)), false,
  'reading it clears the mark for me');
reset role;
select tests.become('owner');
select is((select unread from api.list_conversations(tests.get('tenant')::uuid) where id = tests.conv(1)), true,
  'but not for my colleague');
reset role;
select tests.become('service');
select api.ingest_message(tests.get('web_channel')::uuid, 'inbox-1c', 'visitor-1', 'visitor-1', 'Hello?', 'Visitor 1');
reset role;
select tests.become('admin');
select is((select unread from api.list_conversations(tests.get('tenant')::uuid) where id = tests.conv(1)), true,
  'the next contact message is unread again');

-- Full-text search over every message --------------------------------------------------------
select set_eq(format($$select id from api.list_conversations(%L, search => 'parcel')$$, tests.get('tenant')),
  format($$values (%L::uuid)$$, tests.conv(1)),
  'search finds a word of an earlier message, in this tenant only');
select set_eq(format($$select id from api.list_conversations(%L, search => 'invoices', channel => 'web_chat', view => 'mine')$$, tests.get('tenant')),
  format($$values (%L::uuid)$$, tests.conv(2)), 'search combines with filters');
select is((select count(*)::int from api.list_conversations(tests.get('tenant')::uuid, search => 'invoices', view => 'closed')), 0,
  'a filter that excludes it finds nothing');

-- Internal notes -----------------------------------------------------------------------------
select isnt(api.add_note(tests.conv(1), 'Customer is a VIP: secret-note-7731'), null, 'an admin adds a note');
reset role;
select ok(not exists (select 1 from app.messages where text like '%secret-note-7731%'), 'a note is not a message');
select tests.become('service');
select ok(api.web_chat_history(tests.get('web_channel')::uuid, 'visitor-1')::text not like '%secret-note-7731%',
  'the widget''s history never contains a note');
select ok(api.get_agent_context(tests.get('tenant')::uuid, tests.conv(1))::text not like '%secret-note-7731%',
  'the agent''s prompt context never contains a note');
reset role;
select ok(exists (select 1 from realtime.messages m where m.event = 'note_created' and m.topic = 'tenant:' || tests.get('tenant')
    and m.payload ->> 'text' like '%secret-note-7731%'), 'the note is broadcast to the tenant''s portal topic');

-- Canned replies -----------------------------------------------------------------------------
select tests.become('admin');
select is(api.save_canned_reply(tests.get('tenant')::uuid, '/Refund', 'Refunds take 5 business days.') ->> 'shortcut', 'refund',
  'a shortcut is stored without its slash, in lowercase');
reset role;

select * from finish();
rollback;
