-- Knowledge uploads of every kind are checked and queued, and wake the worker for
-- knowledge_jobs; full-text search finds passages that share only some of a question's
-- words, ranked by how well they match, and never another tenant's.
begin;
create extension if not exists pgtap with schema extensions;
select plan(27);

-- The demo tenant's owner (supabase/seed.sql), and a second tenant with a passage that
-- would match every question below.
select set_config('request.jwt.claims',
  '{"sub": "00000000-0000-4000-8000-000000000001", "role": "authenticated", "email": "admin@konstruct.local"}', true);
insert into auth.users (id, email, aud, role)
values ('00000000-0000-4000-8000-0000000000b1', 'other-owner@tests.konstruct.local', 'authenticated', 'authenticated');
insert into app.tenants (id, name, slug, created_by)
values ('10000000-0000-4000-8000-0000000000b1', 'Other', 'other-recall', '00000000-0000-4000-8000-0000000000b1');
insert into app.knowledge_sources (id, tenant_id, title, kind, content, status)
values ('40000000-0000-4000-8000-0000000000b1', '10000000-0000-4000-8000-0000000000b1', 'Other refunds', 'text',
  'Refunds take long: refunds take sixty days here.', 'ready');
insert into app.knowledge_chunks (tenant_id, source_id, chunk_index, content)
values ('10000000-0000-4000-8000-0000000000b1', '40000000-0000-4000-8000-0000000000b1', 0,
  'Refunds take long: refunds take sixty days here.');

-- Recall -------------------------------------------------------------------------------------

select is((select array_agg(t.lexeme order by t.lexeme) from app.knowledge_terms t
    where t.tenant_id = '10000000-0000-4000-8000-0000000000b1'), array['day', 'long', 'refund', 'sixti', 'take'],
  'a tenant''s term statistics hold the lexemes of its chunks');
select is((select count(*)::integer from app.rank_knowledge_text('10000000-0000-4000-8000-000000000001', 'how are you?')), 0,
  'a question of stop words only has no terms');
select is((select count(*)::integer from app.rank_knowledge_text('10000000-0000-4000-8000-000000000001',
    E'it''s O''Reilly''s & (a|b) !: <-> example.com')), 0,
  'tsquery syntax in a question is just text');
select is((select count(*)::integer from app.knowledge_chunks c
    where c.tenant_id = '10000000-0000-4000-8000-000000000001'
      and c.fts @@ websearch_to_tsquery('english', 'How long do refunds take?')), 0,
  'websearch_to_tsquery (AND of every word) finds nothing for the question');

set local role authenticated;
select ok((select s.content from api.search_knowledge('10000000-0000-4000-8000-000000000001',
    'How long do refunds take?', null, 1) s) like 'Refunds:%',
  'api.search_knowledge finds the refunds passage for the natural question');
select is((select count(*)::integer from api.search_knowledge('10000000-0000-4000-8000-000000000001',
    'How long do refunds take?', null, 10) s where s.source_id = '40000000-0000-4000-8000-0000000000b1'), 0,
  'another tenant''s passage, matching every word, is never a candidate');
select ok((select s.content from api.search_knowledge('10000000-0000-4000-8000-000000000001',
    'express delivery business day', null, 1) s) like '%express delivery takes 1 business day%',
  'the passage matching more of the terms ranks first');
select is((select count(*)::integer from api.search_knowledge('10000000-0000-4000-8000-000000000001', 'how are you', null, 5)), 0,
  'stop words alone find nothing');
select is((select count(*)::integer from api.search_knowledge('10000000-0000-4000-8000-000000000001', E'refund & | ! ( :*', null, 5)) > 0,
  true, 'stray tsquery operators do not break the search');
reset role;

-- Uploads --------------------------------------------------------------------------------------

select app.configure_functions('http://127.0.0.1:54321/functions/v1', repeat('k', 32));
select set_config('konstruct.worker_woken', '', true);
create temp table baseline as
  select coalesce((select max(id) from net.http_request_queue), 0) as request_id,
         (select count(*) from pgmq.q_knowledge_jobs) as jobs;
grant select on baseline to authenticated;
create temp view wakeups as select q.* from net.http_request_queue q where q.id > (select request_id from baseline);

set local role authenticated;
select is((api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Returns page', '<h1>Returns</h1><p>Bring it back.</p>', 'html')) ->> 'status',
  'pending', 'HTML is accepted and waits for the worker');
select is((api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Manual', encode(convert_to(E'%PDF-1.4\n%fake', 'UTF8'), 'base64'), 'pdf')) ->> 'kind',
  'pdf', 'a PDF is accepted as base64');
select is((api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Site', null, 'url', 'https://example.com/faq')) ->> 'uri',
  'https://example.com/faq', 'a URL is accepted');
select is((api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Notes', E'# Notes\n\nWe answer within a day.', 'markdown')) ->> 'status',
  'ready', 'Markdown is searchable at once');
select throws_ok($$select api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Bad', 'not base64 !!', 'pdf')$$,
  '22023', 'pdf content is not valid base64', 'a PDF must be base64');
select throws_ok($$select api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Bad', encode('hello world'::bytea, 'base64'), 'pdf')$$,
  '22023', 'the file is not a PDF', 'a PDF must be a PDF');
select throws_ok($$select api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Bad', null, 'url', 'file:///etc/passwd')$$,
  '22023', 'a url source needs an http(s) uri', 'a URL must be http(s)');
select throws_ok($$select api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Bad', '', 'html')$$,
  '22023', 'html knowledge needs content', 'HTML needs content');
select is((api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Price list', E'Plan,Price\nPro,29', 'csv')) ->> 'status',
  'pending', 'a CSV is accepted as text and waits for the worker');
select is((api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Contract', encode('\x504b030414000000'::bytea, 'base64'), 'docx')) ->> 'kind',
  'docx', 'a Word document is accepted as base64');
select is((api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Deck', encode('\x504b030414000000'::bytea, 'base64'), 'pptx')) ->> 'kind',
  'pptx', 'a PowerPoint file is accepted as base64');
select throws_ok($$select api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Bad', encode('\xd0cf11e0a1b11ae1'::bytea, 'base64'), 'docx')$$,
  '22023', 'the file is not a .docx file (a password-protected or old .doc/.ppt file cannot be read)',
  'a Word document must be a zip (not an old .doc or an encrypted file)');
select throws_ok($$select api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Bad', '  ', 'csv')$$,
  '22023', 'csv knowledge needs content', 'a CSV needs content');
select throws_ok($$select api.create_knowledge_source('10000000-0000-4000-8000-000000000001', 'Bad', 'x', 'xlsx')$$,
  '22023', 'kind must be text, markdown, html, csv, pdf, docx, pptx or url', 'an unknown kind is refused');
reset role;

select is((select count(*)::integer from pgmq.q_knowledge_jobs) - (select jobs from baseline)::integer, 7,
  'every accepted source is queued on knowledge_jobs');
select is((select count(*)::integer from wakeups), 1, 'the uploads woke the worker (once in the transaction)');
select is((select convert_from(body, 'UTF8')::jsonb ->> 'queue' from wakeups), 'knowledge_jobs', 'for the knowledge queue first');

set local role authenticated;
select is((api.reprocess_knowledge_source((select s.id from app.knowledge_sources s where s.title = 'Site'))) ->> 'status',
  'pending', 'a source can be queued again');
reset role;

select * from finish();
rollback;
