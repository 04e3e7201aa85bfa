// The knowledge page's list of sources: pages of api.list_knowledge_sources (newest first,
// keyset by created_at and id) merged with knowledge_source_changed events, so "Show more"
// keeps working while sources are added, processed and deleted live.
//
// The list holds every source from the newest down to `cursor`, the oldest row a page
// brought; more pages continue strictly before it. A live event about a source older than
// the cursor (one the admin has not paged to yet) is left for the page that brings it:
// shown now it would sit at the bottom, out of place, and look like the end of the list.
import type { KnowledgeSource } from './types.ts'

export const SOURCES_PAGE = 100

export interface SourceKey {
  created_at: string
  id: string
}

export interface SourceList {
  rows: KnowledgeSource[]
  /** The oldest source a page brought; the next page starts before it. */
  cursor: SourceKey | null
  /** No source older than the cursor exists (the last page was short). */
  exhausted: boolean
}

/** Newest first; the id breaks ties, as the api orders them. */
export function compareNewest(a: SourceKey, b: SourceKey): number {
  return Date.parse(b.created_at) - Date.parse(a.created_at) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
}

function oldestOf(rows: KnowledgeSource[], cursor: SourceKey | null): SourceKey | null {
  let oldest = cursor
  for (const row of rows)
    if (!oldest || compareNewest(row, oldest) > 0) oldest = { created_at: row.created_at, id: row.id }
  return oldest
}

/** The first page, as the page's load returned it. */
export function firstPage(loaded: KnowledgeSource[]): SourceList {
  return {
    rows: [...loaded].sort(compareNewest),
    cursor: oldestOf(loaded, null),
    exhausted: loaded.length < SOURCES_PAGE,
  }
}

/**
 * The first page loaded again (after an action or a join): it replaces what it covers, but
 * for a row the list already holds in a newer state (updated_at); older pages
 * already shown and rows that arrived live stay, minus those deleted meanwhile.
 */
export function reloadFirstPage(list: SourceList, loaded: KnowledgeSource[], deleted: Set<string>): SourceList {
  // A row the list holds in a newer state than the load (a live event overtook it) is kept.
  const held = new Map(list.rows.map((s) => [s.id, s]))
  const newer = (s: KnowledgeSource) => {
    const old = held.get(s.id)
    return old && Date.parse(old.updated_at) > Date.parse(s.updated_at) ? old : s
  }
  const fresh = new Set(loaded.map((s) => s.id))
  const kept = list.rows.filter((s) => !fresh.has(s.id) && !deleted.has(s.id))
  return {
    rows: [...loaded.filter((s) => !deleted.has(s.id)).map(newer), ...kept].sort(compareNewest),
    cursor: oldestOf(loaded, list.cursor),
    exhausted: list.exhausted || loaded.length < SOURCES_PAGE,
  }
}

/** The arguments of api.list_knowledge_sources for the page after what the list holds. */
export function nextPageArgs(list: SourceList, tenantId: string) {
  return {
    tenant_id: tenantId,
    before_created_at: list.cursor?.created_at ?? null,
    before_id: list.cursor?.id ?? null,
    page_size: SOURCES_PAGE,
  }
}

/** A further page appended: merged by id (a row may have arrived live meanwhile). */
export function appendPage(list: SourceList, page: KnowledgeSource[], deleted: Set<string>): SourceList {
  const byId = new Map(list.rows.map((s) => [s.id, s]))
  for (const s of page) if (!deleted.has(s.id) && !byId.has(s.id)) byId.set(s.id, s)
  return {
    rows: [...byId.values()].sort(compareNewest),
    cursor: oldestOf(page, list.cursor),
    exhausted: page.length < SOURCES_PAGE,
  }
}

/** Whether a source lies beyond what the list has paged to (a later page brings it). */
export function beyondPaged(list: SourceList, source: SourceKey): boolean {
  return !list.exhausted && list.cursor !== null && compareNewest(source, list.cursor) > 0
}

/** A source added or changed live; an older version (by updated_at) never replaces a newer one. */
export function upsertSource(list: SourceList, row: KnowledgeSource): SourceList {
  const old = list.rows.find((s) => s.id === row.id)
  if (!old && beyondPaged(list, row)) return list
  // Events of one transaction share updated_at and arrive in order, so equal means newer.
  if (old && Date.parse(old.updated_at) > Date.parse(row.updated_at)) return list
  const rows = old ? list.rows.map((s) => (s.id === row.id ? row : s)) : [row, ...list.rows].sort(compareNewest)
  return { ...list, rows }
}

/** A source deleted (live or by this admin). */
export function removeSource(list: SourceList, id: string): SourceList {
  return { ...list, rows: list.rows.filter((s) => s.id !== id) }
}
