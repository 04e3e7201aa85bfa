// Knowledge files from the browser: which kind a file is, whether it fits what
// api.create_knowledge_source accepts (checked before anything is sent), and its content
// as the api wants it (text as is, a PDF as base64).

export type UploadKind = 'text' | 'markdown' | 'html' | 'pdf'

/** The file input's accept list. */
export const ACCEPTED_FILES = '.txt,.md,.markdown,.html,.htm,.pdf,text/plain,text/markdown,text/html,application/pdf'

/** api.create_knowledge_source: 2,000,000 characters of text, a PDF of at most 10 MB. */
export const MAX_TEXT_CHARACTERS = 2_000_000
export const MAX_PDF_BYTES = 10 * 1024 * 1024

const kindByExtension: Record<string, UploadKind> = {
  txt: 'text',
  md: 'markdown',
  markdown: 'markdown',
  html: 'html',
  htm: 'html',
  pdf: 'pdf',
}

export function kindOfFile(file: { name: string; type: string }): UploadKind | null {
  const extension = /\.([a-z0-9]+)$/i.exec(file.name)?.[1]?.toLowerCase()
  if (extension && kindByExtension[extension]) return kindByExtension[extension]
  if (file.type === 'application/pdf') return 'pdf'
  if (file.type === 'text/markdown') return 'markdown'
  if (file.type === 'text/html') return 'html'
  if (file.type === 'text/plain') return 'text'
  return null
}

/** A title from the file name: without its extension, dashes and underscores as spaces. */
export function titleOfFile(name: string): string {
  const base = name
    .replace(/\.[a-z0-9]+$/i, '')
    .replace(/[_-]+/g, ' ')
    .trim()
  return (base || name).slice(0, 300)
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`
}

/** Why a file cannot be uploaded, before reading it; null when it may be. */
export function checkFile(file: { name: string; type: string; size: number }): string | null {
  const kind = kindOfFile(file)
  if (!kind) return `${file.name} is not a .txt, .md, .html or .pdf file.`
  if (file.size === 0) return `${file.name} is empty.`
  if (kind === 'pdf' && file.size > MAX_PDF_BYTES)
    return `${file.name} is ${formatBytes(file.size)}; a PDF can be at most 10 MB.`
  // A UTF-8 character is at least one byte, so this is a quick first check.
  if (kind !== 'pdf' && file.size > 4 * MAX_TEXT_CHARACTERS)
    return `${file.name} is ${formatBytes(file.size)}; split it into smaller files.`
  return null
}

/** The content to send: text for text kinds (length checked), base64 for a PDF. */
export async function readForUpload(file: File, kind: UploadKind): Promise<string> {
  if (kind !== 'pdf') {
    const text = await file.text()
    if (!text.trim()) throw new Error(`${file.name} has no text.`)
    if (text.length > MAX_TEXT_CHARACTERS)
      throw new Error(`${file.name} is longer than 2,000,000 characters; split it into smaller files.`)
    return text
  }
  const bytes = new Uint8Array(await file.arrayBuffer())
  if (String.fromCharCode(...bytes.subarray(0, 5)) !== '%PDF-') throw new Error(`${file.name} is not a PDF.`)
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}
