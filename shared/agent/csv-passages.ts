// A CSV file as knowledge: every row a readable record ("Plan: Pro\nPrice: 29 €"), its
// header names beside its values, so a passage makes sense on its own, and rows grouped
// whole into passages of about PASSAGE_CHARS. csv-parse reads the format (quoted fields,
// line breaks inside quotes, a byte order mark); the separator is the one of , ; tab |
// that the header line uses most, as spreadsheets in many locales write semicolons.

import { CsvError, parse } from 'csv-parse/sync'
import { PASSAGE_CHARS, type Passage } from './chunking.ts'

/** The file is not a CSV that can be read; the message says why, for the admin. */
export class CsvUnreadable extends Error {
  override readonly name = 'CsvUnreadable'
}

const SEPARATORS = [',', ';', '\t', '|']

function separatorOf(headerLine: string): string {
  // Separators inside quoted names do not count.
  const unquoted = headerLine.replace(/"[^"]*"/g, '')
  let best = ','
  let bestCount = 0
  for (const separator of SEPARATORS) {
    const count = unquoted.split(separator).length - 1
    if (count > bestCount) [best, bestCount] = [separator, count]
  }
  return best
}

/** The records of a CSV file: the header row first. */
export function readCsv(text: string): string[][] {
  if (text.includes('\u0000')) throw new CsvUnreadable('the file is not text')
  const headerLine = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? ''
  try {
    return parse(text, {
      delimiter: separatorOf(headerLine),
      bom: true,
      trim: true,
      skip_empty_lines: true,
      skip_records_with_empty_values: true,
      // A short row (trailing empty cells left out) or a long one is still a row.
      relax_column_count: true,
    }) as string[][]
  } catch (error) {
    if (error instanceof CsvError) throw new CsvUnreadable(error.message)
    throw error
  }
}

/** One row as "Header: value" lines, empty cells left out. */
function rowText(header: string[], row: string[]): string {
  return row
    .map((value, i) => (value ? `${header[i] || `Column ${i + 1}`}: ${value}` : ''))
    .filter(Boolean)
    .join('\n')
}

/** Lines of a row too long for one passage, grouped; a single line too long cut at a space. */
function rowPieces(text: string, maxChars: number): string[] {
  const pieces: string[] = []
  let current = ''
  for (let line of text.split('\n')) {
    while (line.length > maxChars) {
      const cut = line.lastIndexOf(' ', maxChars)
      const at = cut > maxChars / 2 ? cut : maxChars
      if (current) pieces.push(current)
      current = ''
      pieces.push(line.slice(0, at).trim())
      line = line.slice(at).trim()
    }
    if (current && current.length + line.length + 1 > maxChars) {
      pieces.push(current)
      current = ''
    }
    current = current ? `${current}\n${line}` : line
  }
  if (current) pieces.push(current)
  return pieces
}

/** Passages of whole rows (a blank line between rows), each row with its header names. */
export function csvPassages(text: string, maxChars = PASSAGE_CHARS): Passage[] {
  const [header, ...rows] = readCsv(text)
  if (!header) throw new CsvUnreadable('the file has no rows')
  if (rows.length === 0) throw new CsvUnreadable('the file has a header row but no data rows')
  const passages: Passage[] = []
  let current = ''
  const flush = () => {
    if (current) passages.push({ content: current, heading: null })
    current = ''
  }
  for (const row of rows) {
    for (const piece of rowPieces(rowText(header, row), maxChars)) {
      if (current && current.length + piece.length + 2 > maxChars) flush()
      current = current ? `${current}\n\n${piece}` : piece
    }
  }
  flush()
  return passages
}
