-- Knowledge ranking: BM25 over the chunks' own tsvectors, inside Postgres, per tenant.
--
-- ts_rank_cd has no inverse document frequency and favours long passages, and scoring
-- every chunk that shares any word with a question grows with the tenant's knowledge.
-- So, per tenant, statement-level triggers on app.knowledge_chunks keep:
--   * app.knowledge_stats: how many chunks and how many words they hold (average length);
--   * app.knowledge_terms: in how many chunks each lexeme occurs (document frequency);
--   * app.knowledge_postings: one row per (chunk, lexeme) with the lexeme's frequency in
--     the chunk, the chunk's length and an impact (the BM25 term-frequency factor at write
--     time), indexed by (tenant, lexeme, impact desc).
-- app.rank_knowledge_text then reads, for each of the question's terms (in the order they
-- are written, at most 32), only its best postings (at most 200 by impact): a common word
-- costs as much as a rare one, however many chunks it occurs in. The best candidates by
-- that partial sum are scored exactly (every question term, current statistics), with a
-- deterministic tie-break (earlier passage of a source first). BM25 parameters k1 = 1.2,
-- b = 0.75, idf = ln(1 + (N - df + 0.5) / (df + 0.5)) (never negative).

create table app.knowledge_stats (
  tenant_id uuid primary key references app.tenants (id) on delete cascade,
  chunk_count bigint not null default 0,
  total_length bigint not null default 0,
  languages regconfig[] not null default '{}'
);
comment on table app.knowledge_stats is 'Per tenant: how many knowledge chunks and how many words they hold (BM25''s average passage length), and the text search configurations its chunks were indexed with (questions are searched in each). Kept by the knowledge_chunks triggers.';

-- Languages: a text's language is the text search configuration that finds the most stop
-- words in it ("the", "el", "der" …), when one clearly does; null when none does (too
-- short, or a language Postgres has no configuration for: then 'simple').
create function app.detect_language(content text)
returns regconfig
language sql
stable
parallel safe
set search_path = ''
as $$
  with sample as (select lower(left(coalesce(detect_language.content, ''), 3000)) as t),
  word_count as (
    select count(*) as n from sample, regexp_split_to_table(sample.t, '[^[:alpha:]'']+') w where w <> ''
  ),
  scores as (
    select c.cfg, (select n from word_count) - (select coalesce(sum(coalesce(array_length(v.positions, 1), 1)), 0)
      from sample, unnest(to_tsvector(c.cfg, sample.t)) v) as stop_words
    from unnest(array['english', 'spanish', 'portuguese', 'french', 'german', 'italian', 'dutch']::regconfig[]) c(cfg)
  ),
  ranked as (select s.cfg, s.stop_words, row_number() over (order by s.stop_words desc, s.cfg::text) as r from scores s)
  select best.cfg from ranked best, ranked second
  where best.r = 1 and second.r = 2 and best.stop_words >= 1 and best.stop_words > second.stop_words
$$;
comment on function app.detect_language(text) is 'The text search configuration (english, spanish, portuguese, french, german, italian, dutch) that finds the most stop words in a text''s first 3,000 characters, or null when none clearly does.';

create table app.knowledge_terms (
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  lexeme text not null,
  chunk_count integer not null,
  primary key (tenant_id, lexeme)
);
comment on table app.knowledge_terms is 'Per tenant and lexeme: in how many knowledge chunks it occurs (BM25 document frequency). Kept by the knowledge_chunks triggers.';

create table app.knowledge_postings (
  chunk_id uuid not null,
  lexeme text not null,
  tenant_id uuid not null,
  frequency smallint not null,
  chunk_length integer not null,
  impact real not null,
  primary key (chunk_id, lexeme)
);
create index knowledge_postings_impact_idx on app.knowledge_postings (tenant_id, lexeme, impact desc, chunk_id)
  include (frequency, chunk_length);
comment on table app.knowledge_postings is 'Per knowledge chunk and lexeme: the lexeme''s frequency in the chunk, the chunk''s length and the BM25 term-frequency factor at write time (impact), so a term''s best chunks are read first. Kept by the knowledge_chunks triggers.';

alter table app.knowledge_stats enable row level security;
alter table app.knowledge_stats force row level security;
alter table app.knowledge_terms enable row level security;
alter table app.knowledge_terms force row level security;
alter table app.knowledge_postings enable row level security;
alter table app.knowledge_postings force row level security;

-- The tenants the signed-in user may read, computed once per query by the policies below
-- (a per-row membership check over thousands of postings would cost more than the search).
create function app.readable_tenants()
returns uuid[]
language sql
stable
security definer
set search_path = ''
as $$
  select case when app.is_platform_admin() then array(select t.id from app.tenants t)
    else array(select m.tenant_id from app.memberships m where m.user_id = (select auth.uid())) end
$$;
comment on function app.readable_tenants() is 'The tenants whose data the signed-in user may read (members; every tenant for a platform admin). Policies call it once per query: tenant_id = any ((select app.readable_tenants())::uuid[]).';

create policy "members can read their tenant's knowledge statistics" on app.knowledge_stats
  for select to authenticated using (tenant_id = any ((select app.readable_tenants())::uuid[]));
create policy "members can read their tenant's knowledge terms" on app.knowledge_terms
  for select to authenticated using (tenant_id = any ((select app.readable_tenants())::uuid[]));
create policy "members can read their tenant's knowledge postings" on app.knowledge_postings
  for select to authenticated using (tenant_id = any ((select app.readable_tenants())::uuid[]));

grant select on app.knowledge_stats, app.knowledge_terms, app.knowledge_postings to authenticated, service_role;

create function app.index_knowledge_chunks()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  gone_ids uuid[];
  gone_tenants uuid[];
  gone_fts tsvector[];
  gone_words integer[];
  added_ids uuid[];
  added_tenants uuid[];
  added_fts tsvector[];
  added_words integer[];
  added_languages regconfig[];
begin
  -- A chunk's length is its number of words (lexeme occurrences), as BM25 counts it.
  if tg_op = 'INSERT' then
    select array_agg(n.id), array_agg(n.tenant_id), array_agg(n.fts),
      array_agg((select coalesce(sum(coalesce(array_length(w.positions, 1), 1)), 0) from unnest(n.fts) w)::integer),
      array_agg(n.language)
    into added_ids, added_tenants, added_fts, added_words, added_languages
    from new_chunks n;
  elsif tg_op = 'DELETE' then
    select array_agg(o.id), array_agg(o.tenant_id), array_agg(o.fts),
      array_agg((select coalesce(sum(coalesce(array_length(w.positions, 1), 1)), 0) from unnest(o.fts) w)::integer)
    into gone_ids, gone_tenants, gone_fts, gone_words
    from old_chunks o;
  else
    -- Only rows whose words changed (an embedding update changes none).
    select array_agg(o.id), array_agg(o.tenant_id), array_agg(o.fts),
      array_agg((select coalesce(sum(coalesce(array_length(w.positions, 1), 1)), 0) from unnest(o.fts) w)::integer),
      array_agg(n.id), array_agg(n.tenant_id), array_agg(n.fts),
      array_agg((select coalesce(sum(coalesce(array_length(w.positions, 1), 1)), 0) from unnest(n.fts) w)::integer),
      array_agg(n.language)
    into gone_ids, gone_tenants, gone_fts, gone_words, added_ids, added_tenants, added_fts, added_words, added_languages
    from old_chunks o join new_chunks n on n.id = o.id
    where o.fts is distinct from n.fts or o.tenant_id is distinct from n.tenant_id;
  end if;

  if gone_ids is not null then
    delete from app.knowledge_postings p where p.chunk_id = any (gone_ids);
    -- Locks in one order (tenant, lexeme), so concurrent writers of a tenant never deadlock.
    perform 1 from app.knowledge_terms t
    where (t.tenant_id, t.lexeme) in (select g.tenant_id, l.lexeme
        from unnest(gone_tenants, gone_fts) g(tenant_id, fts), unnest(tsvector_to_array(g.fts)) l(lexeme))
    order by t.tenant_id, t.lexeme for update;
    update app.knowledge_terms t set chunk_count = t.chunk_count - d.chunks
    from (select g.tenant_id, l.lexeme, count(*)::integer as chunks
          from unnest(gone_tenants, gone_fts) g(tenant_id, fts), unnest(tsvector_to_array(g.fts)) l(lexeme)
          group by g.tenant_id, l.lexeme) d
    where t.tenant_id = d.tenant_id and t.lexeme = d.lexeme;
    delete from app.knowledge_terms t
    where t.chunk_count <= 0 and (t.tenant_id, t.lexeme) in (select g.tenant_id, l.lexeme
        from unnest(gone_tenants, gone_fts) g(tenant_id, fts), unnest(tsvector_to_array(g.fts)) l(lexeme));
    update app.knowledge_stats s set chunk_count = s.chunk_count - d.chunks, total_length = s.total_length - d.words
    from (select g.tenant_id, count(*) as chunks, sum(g.words) as words
          from unnest(gone_tenants, gone_words) g(tenant_id, words) group by g.tenant_id) d
    where s.tenant_id = d.tenant_id;
  end if;

  if added_ids is not null then
    insert into app.knowledge_stats as s (tenant_id, chunk_count, total_length, languages)
    select a.tenant_id, count(*), sum(a.words), array_agg(distinct a.language)
    from unnest(added_tenants, added_words, added_languages) a(tenant_id, words, language)
    group by a.tenant_id order by a.tenant_id
    on conflict (tenant_id) do update
      set chunk_count = s.chunk_count + excluded.chunk_count, total_length = s.total_length + excluded.total_length,
        languages = array(select distinct l from unnest(s.languages || excluded.languages) l order by l);
    insert into app.knowledge_terms as t (tenant_id, lexeme, chunk_count)
    select a.tenant_id, l.lexeme, count(*)::integer
    from unnest(added_tenants, added_fts) a(tenant_id, fts), unnest(tsvector_to_array(a.fts)) l(lexeme)
    group by a.tenant_id, l.lexeme order by a.tenant_id, l.lexeme
    on conflict (tenant_id, lexeme) do update set chunk_count = t.chunk_count + excluded.chunk_count;
    insert into app.knowledge_postings (chunk_id, lexeme, tenant_id, frequency, chunk_length, impact)
    select a.id, w.lexeme, a.tenant_id, f.frequency, a.words,
      (f.frequency / (f.frequency + 1.2 * (0.25 + 0.75 * a.words / greatest(s.total_length::real / greatest(s.chunk_count, 1), 1))))::real
    from unnest(added_ids, added_tenants, added_fts, added_words) a(id, tenant_id, fts, words)
    join app.knowledge_stats s on s.tenant_id = a.tenant_id
    cross join lateral unnest(a.fts) w
    cross join lateral (select coalesce(array_length(w.positions, 1), 1)::smallint as frequency) f;
  end if;
  return null;
end
$$;
comment on function app.index_knowledge_chunks() is 'Statement-level trigger on app.knowledge_chunks: keeps the tenant''s BM25 statistics (knowledge_stats, knowledge_terms) and postings in step with inserted, deleted and re-worded chunks, in the same transaction.';

create trigger knowledge_chunks_index_insert after insert on app.knowledge_chunks
  referencing new table as new_chunks for each statement execute function app.index_knowledge_chunks();
create trigger knowledge_chunks_index_update after update on app.knowledge_chunks
  referencing old table as old_chunks new table as new_chunks for each statement execute function app.index_knowledge_chunks();
create trigger knowledge_chunks_index_delete after delete on app.knowledge_chunks
  referencing old table as old_chunks for each statement execute function app.index_knowledge_chunks();

create function app.rank_knowledge_text(tenant_id uuid, query_text text, configs regconfig[] default array['english']::regconfig[],
  max_results integer default 20)
returns table (chunk_id uuid, score double precision, rank_ix integer, coverage double precision)
language plpgsql
stable
rows 40
set search_path = ''
as $$
declare
  n double precision;
  avg_length double precision;
  lexemes text[];
  idfs double precision[];
  question_idf double precision;
begin
  select s.chunk_count, s.total_length::double precision / s.chunk_count into n, avg_length
  from app.knowledge_stats s
  where s.tenant_id = rank_knowledge_text.tenant_id and s.chunk_count > 0;
  if not found then
    return;
  end if;
  -- The question's lexemes in each configuration (at most 32, in the order they are written;
  -- tsquery syntax is just text here): those that occur in this tenant's knowledge, with
  -- their idf, and for coverage the idf of the known ones and of the first configuration's
  -- unknown ones (a word the knowledge never uses weighs most).
  select array_agg(q.lexeme order by q.first_at, q.lexeme) filter (where q.known),
    array_agg(q.idf order by q.first_at, q.lexeme) filter (where q.known),
    sum(q.idf) filter (where q.known or q.primary_config)
  into lexemes, idfs, question_idf
  from (
    select w.lexeme, w.first_at, t.lexeme is not null as known, w.primary_config,
      ln(1 + (n - coalesce(t.chunk_count, 0) + 0.5) / (coalesce(t.chunk_count, 0) + 0.5)) as idf
    from (select v.lexeme, min(p.at) as first_at, bool_or(c.ordinality = 1) as primary_config
          from unnest(rank_knowledge_text.configs) with ordinality c(cfg, ordinality)
          cross join lateral unnest(to_tsvector(c.cfg, left(coalesce(rank_knowledge_text.query_text, ''), 4000))) v
          cross join lateral unnest(coalesce(v.positions, array[1]::smallint[])) p(at)
          group by v.lexeme) w
    left join app.knowledge_terms t on t.tenant_id = rank_knowledge_text.tenant_id and t.lexeme = w.lexeme
    order by w.first_at, w.lexeme
    limit 32
  ) q;
  if lexemes is null then
    return;
  end if;
  return query
  with gathered as (
    -- Each term's best postings only (by impact), so a common word costs what a rare one does.
    select p.chunk_id,
      sum(t.idf * p.frequency * 2.2 / (p.frequency + 1.2 * (0.25 + 0.75 * p.chunk_length / avg_length))) as partial
    from unnest(lexemes, idfs) t(lexeme, idf)
    cross join lateral (
      select p.chunk_id, p.frequency, p.chunk_length from app.knowledge_postings p
      where p.tenant_id = rank_knowledge_text.tenant_id and p.lexeme = t.lexeme
      order by p.impact desc, p.chunk_id
      limit 200
    ) p
    group by p.chunk_id
    order by partial desc, p.chunk_id
    limit rank_knowledge_text.max_results + 20
  ),
  scored as (
    -- Exact BM25 of those candidates: every question term, also those whose list was cut.
    select g.chunk_id, e.score, e.matched_idf / question_idf as coverage
    from gathered g
    cross join lateral (
      select sum(t.idf * p.frequency * 2.2 / (p.frequency + 1.2 * (0.25 + 0.75 * p.chunk_length / avg_length))) as score,
        sum(t.idf) as matched_idf
      from unnest(lexemes, idfs) t(lexeme, idf)
      join app.knowledge_postings p on p.chunk_id = g.chunk_id and p.lexeme = t.lexeme
    ) e
  )
  select r.chunk_id, r.score, r.rank_ix::integer, r.coverage
  from (select s.chunk_id, s.score, s.coverage,
          row_number() over (order by s.score desc, c.chunk_index, c.created_at, c.id) as rank_ix
        from scored s
        -- One primary-key lookup per candidate ("offset 0" keeps it a nested loop).
        cross join lateral (select c.chunk_index, c.created_at, c.id from app.knowledge_chunks c
                            where c.id = s.chunk_id offset 0) c) r
  where r.rank_ix <= rank_knowledge_text.max_results
  order by r.rank_ix;
end
$$;
comment on function app.rank_knowledge_text(uuid, text, regconfig[], integer) is 'BM25 ranking (k1 1.2, b 0.75) of a tenant''s knowledge chunks for a question, read in each of the given text search configurations (the first is the question''s own): each question term (in the question''s order, at most 32) contributes its 200 best postings by impact, and the best candidates are scored exactly with the tenant''s current statistics. Ties: earlier passage of a source first. coverage: the share of the question''s idf (words the knowledge never uses weigh most) that the chunk holds, 0..1, what the offline answer decides on. Used by api.search_knowledge.';

revoke all on function app.readable_tenants(), app.index_knowledge_chunks(), app.detect_language(text),
  app.rank_knowledge_text(uuid, text, regconfig[], integer) from public, anon;
grant execute on function app.readable_tenants(), app.detect_language(text),
  app.rank_knowledge_text(uuid, text, regconfig[], integer) to authenticated, service_role;
