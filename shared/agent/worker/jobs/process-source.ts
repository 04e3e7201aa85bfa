// The process_source job (on knowledge_jobs): turns a knowledge source into searchable chunks, with
// embeddings when an embeddings model is configured (without one, search is full
// text only and pasted text is already chunked by the database). HTML is reduced to
// its text (html-text.ts); a URL is fetched through the guarded client (its own host only, never a
// private, loopback or link-local address, re-checked on every redirect). PDF text is
// extracted in plain TypeScript (pdf-text.ts); a PDF without readable text (a scan, an
// encrypted file) is marked failed with a reason the admin can act on. A CSV's rows become
// passages with their header names (csv-passages.ts); Word and PowerPoint files are read
// as text with their headings and slide titles (docx-text.ts, pptx-text.ts). A file that
// cannot be read marks its source failed with the reason, and stores no passage.

import { chunkDocument, type Passage } from '../../chunking.ts'
import { CsvUnreadable, csvPassages } from '../../csv-passages.ts'
import { docxText } from '../../docx-text.ts'
import { OfficeFileUnreadable } from '../../office-zip.ts'
import { pptxText } from '../../pptx-text.ts'
import { embedTexts } from '../../embeddings.ts'
import { costOfCall } from '../../pricing.ts'
import { estimateTokens } from '../../tokens.ts'
import { GuardedFetchError, guardedFetch, type ResolveHost } from '../../../net/guarded-fetch.ts'
import { extractPdfText, PdfTextUnavailable } from '../../pdf-text.ts'
import { htmlToText } from '../../html-text.ts'
import type { AgentStore, KnowledgeSourceRecord } from '../../store.ts'
import { z } from 'zod'
import type { WorkerConfig } from '../config.ts'
import type { WorkerContext } from '../context.ts'
import type { JobKind } from '../executor.ts'
import { alertAndGoOn } from '../records.ts'

export const processSourceJobSchema = z.object({
  kind: z.literal('process_source'),
  tenant_id: z.string().uuid(),
  source_id: z.string().uuid(),
})
export type KnowledgeJob = z.infer<typeof processSourceJobSchema>

export interface KnowledgeDeps {
  store: AgentStore
  config: WorkerConfig
  fetch?: typeof fetch
  resolveHost?: ResolveHost
  signal?: AbortSignal
}

/** Nothing a retry would change: the source is marked failed with this message (shown to admins). */
export class KnowledgeSourceUnusable extends Error {
  override readonly name = 'KnowledgeSourceUnusable'
}

/** A passing failure (the site is down, DNS did not answer): retried, and its message shown if it lasts. */
export class KnowledgeFetchFailed extends Error {
  override readonly name = 'KnowledgeFetchFailed'
}

const MAX_URL_BYTES = 10 * 1024 * 1024

const DOCX_TYPE = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'
const PPTX_TYPE = 'application/vnd.openxmlformats-officedocument.presentationml.presentation'

const EMBED_BATCH = 64

function decodeBase64(text: string): Uint8Array {
  const binary = atob(text.replace(/^data:[^,]*,/, '').replace(/\s+/g, ''))
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

/** The text of a PDF file, or KnowledgeSourceUnusable with the extractor's reason. */
export async function pdfSourceText(bytes: Uint8Array): Promise<string> {
  try {
    return (await extractPdfText(bytes)).text
  } catch (error) {
    if (error instanceof PdfTextUnavailable) throw new KnowledgeSourceUnusable(`PDF not readable: ${error.message}`)
    throw new KnowledgeSourceUnusable('PDF not readable: the file could not be parsed')
  }
}

async function fetchSourcePassages(uri: string, deps: KnowledgeDeps): Promise<Passage[]> {
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
    {
      method: 'GET',
      headers: {
        accept: `text/html, text/plain;q=0.9, text/markdown;q=0.9, text/csv;q=0.9, application/pdf;q=0.8, ${DOCX_TYPE};q=0.8, ${PPTX_TYPE};q=0.8`,
      },
    },
    {
      allowHosts: [host],
      resolveHost: deps.resolveHost,
      fetch: deps.fetch,
      timeoutMs: 15_000,
      maxResponseBytes: MAX_URL_BYTES,
      signal: deps.signal,
    },
  ).catch((error: unknown) => {
    // Refusals (a private address, a bad URL, too large) are final; timeouts and network trouble pass.
    if (error instanceof GuardedFetchError && ['timeout', 'network', 'dns'].includes(error.code)) {
      throw new KnowledgeFetchFailed(`the URL could not be fetched (${error.code}): ${error.message}`)
    }
    throw new KnowledgeSourceUnusable(`the URL was refused: ${(error as Error).message}`)
  })
  if (response.status >= 500 || response.status === 429 || response.status === 408) {
    throw new KnowledgeFetchFailed(`the URL answered ${response.status}`)
  }
  if (response.status >= 400) throw new KnowledgeSourceUnusable(`the URL answered ${response.status}`)
  const type = (response.headers.get('content-type') ?? '').toLowerCase()
  const isPdf = type.includes('application/pdf') || new TextDecoder().decode(response.body.subarray(0, 5)) === '%PDF-'
  if (isPdf) return chunkDocument(await pdfSourceText(response.body))
  if (type.startsWith(DOCX_TYPE)) return chunkDocument(officeText(docxText, response.body, 'Word document'))
  if (type.startsWith(PPTX_TYPE)) return chunkDocument(officeText(pptxText, response.body, 'PowerPoint file'))
  if (!/^(text\/|application\/(xhtml\+xml|xml|json))|^$/.test(type)) {
    throw new KnowledgeSourceUnusable(
      `the URL returned ${type.split(';')[0]}, which is not text, HTML, CSV, PDF, Word or PowerPoint`,
    )
  }
  const text = response.text()
  // RFC 4180's optional parameter says whether the first line is a header; otherwise it is detected.
  const header = /;\s*header=(present|absent)/.exec(type)?.[1]
  if (type.startsWith('text/csv')) return csvSourcePassages(text, header ? header === 'present' : undefined)
  return chunkDocument(type.includes('html') || /^\s*<(!doctype html|html)/i.test(text) ? htmlToText(text) : text)
}

function csvSourcePassages(text: string, header?: boolean): Passage[] {
  try {
    return csvPassages(text, undefined, header)
  } catch (error) {
    if (error instanceof CsvUnreadable) throw new KnowledgeSourceUnusable(`CSV not readable: ${error.message}`)
    throw error
  }
}

/** The bytes of an uploaded file (base64), or KnowledgeSourceUnusable naming its format. */
function uploadedBytes(source: KnowledgeSourceRecord, format: string): Uint8Array {
  try {
    return decodeBase64(source.content ?? '')
  } catch {
    throw new KnowledgeSourceUnusable(`the ${format} upload is not valid base64`)
  }
}

function officeText(read: (bytes: Uint8Array) => string, bytes: Uint8Array, format: string): string {
  try {
    return read(bytes)
  } catch (error) {
    if (error instanceof OfficeFileUnreadable)
      throw new KnowledgeSourceUnusable(`${format} not readable: ${error.message}`)
    throw error
  }
}

/** A source's passages, from its kind: text as chunked text, files through their reader. */
async function sourcePassages(source: KnowledgeSourceRecord, deps: KnowledgeDeps): Promise<Passage[]> {
  switch (source.kind) {
    case 'text':
    case 'markdown':
      return chunkDocument(source.content ?? '')
    case 'html':
      return chunkDocument(htmlToText(source.content ?? ''))
    case 'url':
      return source.content?.trim() ? chunkDocument(source.content) : await fetchSourcePassages(source.uri ?? '', deps)
    case 'pdf':
      return chunkDocument(await pdfSourceText(uploadedBytes(source, 'PDF')))
    case 'csv':
      return csvSourcePassages(source.content ?? '')
    case 'docx':
      return chunkDocument(officeText(docxText, uploadedBytes(source, 'Word'), 'Word document'))
    case 'pptx':
      return chunkDocument(officeText(pptxText, uploadedBytes(source, 'PowerPoint'), 'PowerPoint file'))
  }
}

export async function processKnowledgeSource(job: KnowledgeJob, deps: KnowledgeDeps): Promise<string> {
  const { store, config } = deps
  const source = await store.getKnowledgeSource(job.tenant_id, job.source_id)
  if (!source) return 'gone'
  const alreadyChunked = source.status === 'ready' && (source.kind === 'text' || source.kind === 'markdown')
  if (alreadyChunked && !config.embeddings) return 'ready:full_text_only'

  try {
    if (!alreadyChunked) await store.setKnowledgeSourceStatus(job.tenant_id, job.source_id, 'processing')
    const passages = await sourcePassages(source, deps)
    if (passages.length === 0) throw new KnowledgeSourceUnusable('the source has no text')
    const chunks = passages.map((p) => p.content)

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
      passages.map(({ content, heading }, i) => ({
        content,
        heading,
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

export function processSourceJob(ctx: WorkerContext): JobKind<KnowledgeJob> {
  return {
    schema: processSourceJobSchema,
    run: (job, run) =>
      processKnowledgeSource(job, {
        store: ctx.store,
        config: ctx.config,
        fetch: ctx.fetch,
        resolveHost: ctx.resolveHost,
        signal: run.signal,
      }),
    async deadLetter(job, letter) {
      // The alert comes first: whoever sees the source marked failed finds the alert too.
      await alertAndGoOn(ctx, job.tenant_id, 'knowledge_failed', null, {
        source_id: job.source_id,
        attempts: letter.attempts,
        error: letter.reason,
      })
      await ctx.store
        .setKnowledgeSourceStatus(
          job.tenant_id,
          job.source_id,
          'failed',
          letter.error instanceof KnowledgeFetchFailed
            ? `Gave up after ${letter.attempts ?? 'several'} attempts: ${letter.error.message}`
            : 'Processing failed; see the audit log.',
        )
        .catch(() => {})
    },
  }
}
