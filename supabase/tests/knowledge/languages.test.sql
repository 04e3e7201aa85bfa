-- Knowledge in several languages: each source is indexed in its own language (detected,
-- or set by the admin; simple when none fits), and a question is searched in the language
-- it is written in, so a tenant with English and Spanish knowledge answers both.
begin;
create extension if not exists pgtap with schema extensions;

\ir ../helpers/two_tenants.psql

select tests.setup_two_tenants();
select plan(11);

select is(app.detect_language('How long do refunds take for orders shipped to the UK?'), 'english'::regconfig, 'English is detected');
select is(app.detect_language('¿Cuánto tardan las devoluciones de los pedidos?'), 'spanish'::regconfig, 'Spanish is detected');
select is(app.detect_language('Wie lange dauert die Rückerstattung für meine Bestellung?'), 'german'::regconfig, 'German is detected');
select is(app.detect_language('12345 XK-9'), null, 'no language when nothing tells');

select tests.become('owner');
create temp table added as
select api.create_knowledge_source(tests.get('tenant')::uuid, 'Devoluciones',
  'Las devoluciones se reembolsan en un plazo de diez días hábiles. El envío a las islas tarda una semana.') as es,
  api.create_knowledge_source(tests.get('tenant')::uuid, 'Shipping',
  'Shipping to the islands takes one week. Parcels are tracked from the moment they leave our warehouse.') as en,
  api.create_knowledge_source(tests.get('tenant')::uuid, 'Codes', 'XK-9 ZQ-4 PR-7', 'text', null, 'simple') as codes;
reset role;

select is((select s.language::text from app.knowledge_sources s where s.id = ((select es from added) ->> 'id')::uuid),
  'spanish', 'the Spanish source is indexed in Spanish');
select is((select s.language::text from app.knowledge_sources s where s.id = ((select en from added) ->> 'id')::uuid),
  'english', 'the English source in English');
select is((select s.language::text from app.knowledge_sources s where s.id = ((select codes from added) ->> 'id')::uuid),
  'simple', 'the admin may set the language');

select tests.become('operator');
select is((select s.source_title from api.search_knowledge(tests.get('tenant')::uuid, '¿Cuánto tardan los reembolsos de las devoluciones?', null, 1) s),
  'Devoluciones', 'a Spanish question finds the Spanish passage');
select is((select s.source_title from api.search_knowledge(tests.get('tenant')::uuid, 'How long does shipping to the islands take?', null, 1) s),
  'Shipping', 'an English question finds the English passage');
select is((select s.source_title from api.search_knowledge(tests.get('tenant')::uuid, 'reembolsan', null, 1) s),
  'Devoluciones', 'a one-word question is read in each of the tenant''s languages');
reset role;

select tests.become('owner');
select throws_ok($$select api.create_knowledge_source(tests.get('tenant')::uuid, 'X', 'x', 'text', null, 'klingon')$$,
  '22023', null, 'an unknown language is refused');
reset role;

select * from finish();
rollback;
