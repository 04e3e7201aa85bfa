// Knowledge files from the browser: which kind a file is, whether it fits what
// api.create_knowledge_source accepts (checked before anything is sent), and its content
// as the api wants it (text as is; a PDF, Word or PowerPoint file as base64).

export type UploadKind = 'text' | 'markdown' | 'html' | 'csv' | 'pdf' | 'docx' | 'pptx'

const DOCX_TYPE = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'
const PPTX_TYPE = 'application/vnd.openxmlformats-officedocument.presentationml.presentation'

/** The file input's accept list. */
export const ACCEPTED_FILES = [
  '.txt,.md,.markdown,.html,.htm,.csv,.pdf,.docx,.pptx',
  'text/plain,text/markdown,text/html,text/csv,application/pdf',
  DOCX_TYPE,
  PPTX_TYPE,
].join(',')

/** What the refusal of another kind of file names. */
export const ACCEPTED_NAMES = '.txt, .md, .html, .csv, .pdf, .docx or .pptx'

/** api.create_knowledge_source: 2,000,000 characters of text, a PDF, Word or PowerPoint file of at most 10 MB. */
export const MAX_TEXT_CHARACTERS = 2_000_000
export const MAX_FILE_BYTES = 10 * 1024 * 1024

const kindByExtension: Record<string, UploadKind> = {
  txt: 'text',
  md: 'markdown',
  markdown: 'markdown',
  html: 'html',
  htm: 'html',
  csv: 'csv',
  pdf: 'pdf',
  docx: 'docx',
  pptx: 'pptx',
}

const kindByType: Record<string, UploadKind> = {
  'application/pdf': 'pdf',
  'text/markdown': 'markdown',
  'text/html': 'html',
  'text/csv': 'csv',
  'text/plain': 'text',
  [DOCX_TYPE]: 'docx',
  [PPTX_TYPE]: 'pptx',
}

/** Files sent as bytes (base64), and what they are called in messages. */
const binaryKinds: Partial<Record<UploadKind, string>> = { pdf: 'PDF', docx: 'Word document', pptx: 'PowerPoint file' }

export function kindOfFile(file: { name: string; type: string }): UploadKind | null {
  const extension = /\.([a-z0-9]+)$/i.exec(file.name)?.[1]?.toLowerCase()
  if (extension && kindByExtension[extension]) return kindByExtension[extension]
  return kindByType[file.type] ?? null
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
  if (!kind) return `${file.name} is not a ${ACCEPTED_NAMES} file.`
  if (file.size === 0) return `${file.name} is empty.`
  const binary = binaryKinds[kind]
  if (binary && file.size > MAX_FILE_BYTES)
    return `${file.name} is ${formatBytes(file.size)}; a ${binary} can be at most 10 MB.`
  // A UTF-8 character is at least one byte, so this is a quick first check.
  if (!binary && file.size > 4 * MAX_TEXT_CHARACTERS)
    return `${file.name} is ${formatBytes(file.size)}; split it into smaller files.`
  return null
}

/** The content to send: text for text kinds (length checked), base64 for a PDF, Word or PowerPoint file. */
export async function readForUpload(file: File, kind: UploadKind): Promise<string> {
  const format = binaryKinds[kind]
  if (!format) {
    const text = await file.text()
    if (!text.trim()) throw new Error(`${file.name} has no text.`)
    if (text.includes('\u0000')) throw new Error(`${file.name} is not a text file.`)
    if (text.length > MAX_TEXT_CHARACTERS)
      throw new Error(`${file.name} is longer than 2,000,000 characters; split it into smaller files.`)
    return text
  }
  const bytes = new Uint8Array(await file.arrayBuffer())
  const start = String.fromCharCode(...bytes.subarray(0, 5))
  if (kind === 'pdf' && start !== '%PDF-') throw new Error(`${file.name} is not a PDF.`)
  // Word and PowerPoint files are zips; a password-protected or old .doc/.ppt one is not.
  if (kind !== 'pdf' && !start.startsWith('PK\u0003\u0004'))
    throw new Error(
      `${file.name} is not a ${format} that can be read (is it password-protected, or an old .doc/.ppt?).`,
    )
  let latin1 = ''
  for (let i = 0; i < bytes.length; i += 0x8000) latin1 += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(latin1)
}
