// The knowledge page's list past its first page: keyset pages merged with live events, so
// every source is shown exactly once, newest first, whatever arrives between pages.
import { describe, expect, it } from 'vitest'
import {
  SOURCES_PAGE,
  appendPage,
  firstPage,
  nextPageArgs,
  reloadFirstPage,
  removeSource,
  upsertSource,
} from '../../../web/src/lib/knowledge-list.ts'
import type { KnowledgeSource } from '../../../web/src/lib/types.ts'

const start = Date.parse('2026-12-01T00:00:00Z')
/** Source n was added n minutes after the start; a higher n is newer. */
function source(n: number, change: Partial<KnowledgeSource> = {}): KnowledgeSource {
  const at = new Date(start + n * 60_000).toISOString()
  return {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    title: `Source ${n}`,
    kind: 'text',
    uri: null,
    status: 'ready',
    error: null,
    chunk_count: 1,
    created_at: at,
    updated_at: at,
    ...change,
  }
}

/** What the api holds: sources 1..count, and its keyset pages (newest first). */
function database(count: number) {
  let rows = Array.from({ length: count }, (_, i) => source(i + 1))
  return {
    add: (s: KnowledgeSource) => (rows = [...rows, s]),
    remove: (id: string) => (rows = rows.filter((s) => s.id !== id)),
    page(args: { before_created_at: string | null; before_id: string | null; page_size: number }) {
      return [...rows]
        .sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at) || (a.id < b.id ? 1 : -1))
        .filter(
          (s) =>
            args.before_created_at === null ||
            Date.parse(s.created_at) < Date.parse(args.before_created_at) ||
            (s.created_at === args.before_created_at && s.id < (args.before_id ?? '')),
        )
        .slice(0, args.page_size)
    },
    titles: () => [...rows].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at)).map((s) => s.title),
  }
}

const firstArgs = { before_created_at: null, before_id: null, page_size: SOURCES_PAGE }
const titles = (rows: KnowledgeSource[]) => rows.map((s) => s.title)

describe('the knowledge list', () => {
  it('shows the first page, then every further page once, and knows when it has them all', () => {
    const db = database(250)
    let list = firstPage(db.page(firstArgs))
    expect(list.rows).toHaveLength(100)
    expect(list.exhausted).toBe(false)
    expect(list.rows[0]!.title).toBe('Source 250')

    list = appendPage(list, db.page(nextPageArgs(list, 'tenant')), new Set())
    expect(list.rows).toHaveLength(200)
    expect(list.exhausted).toBe(false)
    list = appendPage(list, db.page(nextPageArgs(list, 'tenant')), new Set())
    expect(list.exhausted).toBe(true)
    expect(titles(list.rows)).toEqual(db.titles())
  })

  it('a source added live while paging is shown at the top and paging still reaches the oldest', () => {
    const db = database(150)
    let list = firstPage(db.page(firstArgs))
    const added = source(1000, { status: 'pending' })
    db.add(added)
    list = upsertSource(list, added)
    expect(list.rows[0]!.title).toBe('Source 1000')
    // Its processing arrives as updates: one row, the newest state.
    list = upsertSource(list, { ...added, status: 'ready', updated_at: new Date(start + 2_000 * 60_000).toISOString() })
    list = upsertSource(list, added)
    expect(list.rows.filter((s) => s.id === added.id).map((s) => s.status)).toEqual(['ready'])

    list = appendPage(list, db.page(nextPageArgs(list, 'tenant')), new Set())
    expect(list.exhausted).toBe(true)
    expect(titles(list.rows)).toEqual(db.titles())
  })

  it('a live change to a source not paged to yet waits for its page, so no source is skipped', () => {
    const db = database(250)
    let list = firstPage(db.page(firstArgs))
    // Source 20 is reprocessed while the admin sees sources 250..151.
    list = upsertSource(list, source(20, { status: 'processing', updated_at: new Date().toISOString() }))
    expect(list.rows.some((s) => s.title === 'Source 20')).toBe(false)
    expect(list.rows.at(-1)!.title).toBe('Source 151')
    list = appendPage(list, db.page(nextPageArgs(list, 'tenant')), new Set())
    list = appendPage(list, db.page(nextPageArgs(list, 'tenant')), new Set())
    expect(titles(list.rows)).toEqual(db.titles())
  })

  it('sources deleted live leave and do not come back with a page or a reload', () => {
    const db = database(150)
    let list = firstPage(db.page(firstArgs))
    const deleted = new Set<string>()
    // One on the first page, one on the next, deleted before the next page was asked for.
    for (const n of [140, 30]) {
      const id = source(n).id
      deleted.add(id)
      list = removeSource(list, id)
    }
    // The page answer raced the delete: it still has source 30.
    list = appendPage(list, db.page(nextPageArgs(list, 'tenant')), deleted)
    for (const n of [140, 30]) db.remove(source(n).id)
    expect(titles(list.rows)).toEqual(db.titles())
    // A reload of the first page after an action keeps the older pages shown.
    list = reloadFirstPage(list, db.page(firstArgs), deleted)
    expect(titles(list.rows)).toEqual(db.titles())
    expect(list.exhausted).toBe(true)
  })

  it('a reload that answers with an older state of a source does not undo what arrived live', () => {
    const db = database(3)
    const loadedBefore = db.page(firstArgs).map((s) => (s.title === 'Source 3' ? { ...s, status: 'processing' } : s))
    // The reload was asked for while source 3 was processing; it turned ready live meanwhile.
    let list = firstPage(db.page(firstArgs))
    const ready = source(3, { status: 'ready', updated_at: new Date(start + 10 * 60_000).toISOString() })
    list = upsertSource(list, ready)
    list = reloadFirstPage(list, loadedBefore, new Set())
    expect(list.rows.find((s) => s.title === 'Source 3')?.status).toBe('ready')
    // A reload with a newer state still wins.
    const later = { ...ready, status: 'failed', updated_at: new Date(start + 20 * 60_000).toISOString() }
    list = reloadFirstPage(list, [later, ...loadedBefore.filter((s) => s.title !== 'Source 3')], new Set())
    expect(list.rows.find((s) => s.title === 'Source 3')?.status).toBe('failed')
  })
})
