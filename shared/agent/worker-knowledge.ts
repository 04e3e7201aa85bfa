// The knowledge_jobs consumer: turns a knowledge source into searchable chunks, with
// embeddings when an embeddings model is configured (without one, search is full
// text only and pasted text is already chunked by the database). HTML is reduced to
// its text; a URL is fetched through the guarded client (its own host only, never a
// private, loopback or link-local address, re-checked on every redirect). PDF text
// extraction is not available in the edge runtime yet: such a source is marked failed
// with a message the admin can act on.

import { embedTexts } from './embeddings.ts'
import { costOfCall } from './pricing.ts'
import { estimateTokens } from './tokens.ts'
import { guardedFetch, type ResolveHost } from '../net/guarded-fetch.ts'
import type { AgentStore } from './store.ts'
import type { WorkerConfig } from './worker-config.ts'

export interface KnowledgeJob {
  kind: 'process_source'
  tenant_id: string
  source_id: string
}

export interface KnowledgeDeps {
  store: AgentStore
  config: WorkerConfig
  fetch?: typeof fetch
  resolveHost?: ResolveHost
  signal?: AbortSignal
}

export class KnowledgeSourceUnusable extends Error {
  override readonly name = 'KnowledgeSourceUnusable'
}

const CHUNK_CHARS = 1200
const EMBED_BATCH = 64

/** Splits text into passages of at most `maxChars`, on blank lines, merging short paragraphs. */
export function chunkText(text: string, maxChars = CHUNK_CHARS): string[] {
  const chunks: string[] = []
  let current = ''
  const flush = () => {
    if (current.trim()) chunks.push(current.trim())
    current = ''
  }
  for (const raw of text.split(/\n\s*\n/)) {
    let paragraph = raw.trim()
    if (!paragraph) continue
    while (paragraph.length > maxChars) {
      flush()
      const cut = paragraph.lastIndexOf(' ', maxChars)
      const at = cut > maxChars / 2 ? cut : maxChars
      chunks.push(paragraph.slice(0, at).trim())
      paragraph = paragraph.slice(at).trim()
    }
    if (current && current.length + paragraph.length + 2 > maxChars) flush()
    current = current ? `${current}\n\n${paragraph}` : paragraph
  }
  flush()
  return chunks
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' }

/** The readable text of an HTML page: scripts, styles and tags dropped, blocks as paragraphs. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|noscript|template|svg)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(
      /<\/?(p|div|section|article|h[1-6]|li|ul|ol|table|tr|br|hr|header|footer|main|blockquote|pre)\b[^>]*>/gi,
      '\n\n',
    )
    .replace(/<[^>]+>/g, ' ')
    .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (whole, code: string) => {
      if (code[0] === '#') {
        const n = code[1]?.toLowerCase() === 'x' ? parseInt(code.slice(2), 16) : parseInt(code.slice(1), 10)
        return Number.isFinite(n) && n > 0 && n < 0x110000 ? String.fromCodePoint(n) : ' '
      }
      return ENTITIES[code.toLowerCase()] ?? whole
    })
    .replace(/[ \t\f\v\r]+/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim()
}

async function fetchSourceText(uri: string, deps: KnowledgeDeps): Promise<string> {
  if (!deps.resolveHost)
    throw new KnowledgeSourceUnusable('URL sources need DNS resolution, which is not available here')
  let host: string
  try {
    host = new URL(uri).hostname
  } catch {
    throw new KnowledgeSourceUnusable('the URL is not valid')
  }
  const response = await guardedFetch(
    uri,
    { method: 'GET', headers: { accept: 'text/html, text/plain;q=0.9, text/markdown;q=0.9' } },
    {
      allowHosts: [host],
      resolveHost: deps.resolveHost,
      fetch: deps.fetch,
      timeoutMs: 15_000,
      maxResponseBytes: 5 * 1024 * 1024,
      signal: deps.signal,
    },
  ).catch((error: unknown) => {
    throw new KnowledgeSourceUnusable(`the URL could not be fetched: ${(error as Error).message}`)
  })
  if (response.status >= 400) throw new Error(`the URL answered ${response.status}`)
  const type = response.headers.get('content-type') ?? ''
  const text = response.text()
  return type.includes('html') ? htmlToText(text) : text
}

export async function processKnowledgeSource(job: KnowledgeJob, deps: KnowledgeDeps): Promise<string> {
  const { store, config } = deps
  const source = await store.getKnowledgeSource(job.tenant_id, job.source_id)
  if (!source) return 'gone'
  const alreadyChunked = source.status === 'ready' && (source.kind === 'text' || source.kind === 'markdown')
  if (alreadyChunked && !config.embeddings) return 'ready:full_text_only'

  try {
    if (!alreadyChunked) await store.setKnowledgeSourceStatus(job.tenant_id, job.source_id, 'processing')
    let text: string
    switch (source.kind) {
      case 'text':
      case 'markdown':
        text = source.content ?? ''
        break
      case 'html':
        text = htmlToText(source.content ?? '')
        break
      case 'url':
        text = source.content?.trim() ? source.content : await fetchSourceText(source.uri ?? '', deps)
        break
      case 'pdf':
        throw new KnowledgeSourceUnusable('PDF text extraction is not supported yet; paste the text instead')
    }
    const chunks = chunkText(text)
    if (chunks.length === 0) throw new KnowledgeSourceUnusable('the source has no text')

    let vectors: number[][] = []
    if (config.embeddings) {
      for (let i = 0; i < chunks.length; i += EMBED_BATCH) {
        const batch = chunks.slice(i, i + EMBED_BATCH)
        const result = await embedTexts(config.embeddings, batch, {
          fetch: deps.fetch,
          dimensions: 1536,
          signal: deps.signal,
        })
        if (result.embeddings.some((v) => v.length !== 1536)) {
          throw new KnowledgeSourceUnusable('the embeddings model does not produce 1536-dimension vectors')
        }
        vectors = vectors.concat(result.embeddings)
        await store.recordUsage({
          tenantId: job.tenant_id,
          agentId: null,
          conversationId: null,
          model: result.model,
          inputTokens: result.usage.promptTokens,
          outputTokens: 0,
          costUsd: costOfCall(result.model, { promptTokens: result.usage.promptTokens, completionTokens: 0 }),
          kind: 'embedding',
          idempotencyKey: `knowledge:${job.source_id}:${Date.now()}:b${i}`,
          metadata: { source_id: job.source_id },
        })
      }
    }
    const stored = await store.replaceKnowledgeChunks(
      job.tenant_id,
      job.source_id,
      chunks.map((content, i) => ({
        content,
        token_count: estimateTokens(content),
        ...(vectors[i] ? { embedding: vectors[i] } : {}),
      })),
    )
    return `ready:${stored}${vectors.length ? ':embedded' : ''}`
  } catch (error) {
    if (error instanceof KnowledgeSourceUnusable) {
      // Nothing a retry would change: tell the admin on the source and finish the job.
      await store.setKnowledgeSourceStatus(job.tenant_id, job.source_id, 'failed', error.message)
      return 'failed'
    }
    throw error
  }
}
