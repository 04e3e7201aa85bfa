// A CSV file as knowledge: every row a readable record ("Plan: Pro\nPrice: 29 €"), its
// header names beside its values, so a passage makes sense on its own, and rows grouped
// whole into passages of about PASSAGE_CHARS. csv-parse reads the format (quoted fields,
// line breaks inside quotes, a byte order mark); the separator is the one of , ; tab |
// that the header line uses most, as spreadsheets in many locales write semicolons.
// A file without a header row (an export that starts with data) is recognised the way
// Python's csv.Sniffer guesses it: where a column's values share a kind (numbers, or one
// length), a first row that does not fit them is a header and one that does is data;
// then every row is data and its values are named "Column 1", "Column 2" ….

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

const SAMPLE_ROWS = 50
// "29", "-3.5", "1,299.00", "9 €", "$12", "15%", "2024-05-01": values a header rarely is.
const NUMBER = /^[-+]?[$€£¥]?\s?\d[\d\s.,:/-]*\s?(%|[$€£¥]|[a-z]{3})?$/i

type ColumnKind = { number: true } | { length: number } | null

function columnKind(values: string[]): ColumnKind {
  const present = values.filter(Boolean)
  if (present.length === 0) return null
  if (present.every((v) => NUMBER.test(v))) return { number: true }
  const length = present[0]!.length
  return present.every((v) => v.length === length) ? { length } : null
}

/**
 * Whether the first row names the columns. Each column whose values share a kind votes:
 * for a header when the first row's cell does not fit (a word above numbers), against
 * when it does (a number above numbers counts twice: headers are seldom numbers); a
 * first-row cell that reads as a sentence votes against. A tie keeps the header, as most
 * files have one.
 */
export function hasHeaderRow(records: readonly string[][]): boolean {
  const [first, ...rest] = records
  if (!first || rest.length === 0) return true
  const sample = rest.slice(0, SAMPLE_ROWS)
  let votes = 0
  first.forEach((cell, i) => {
    if (!cell) return
    // A sentence or a question is content; column names are short labels.
    if (cell.length > 60 || /[.?!]$/.test(cell)) {
      votes -= 1
      return
    }
    const kind = columnKind(sample.map((row) => row[i] ?? ''))
    if (!kind) return
    const fits = 'number' in kind ? NUMBER.test(cell) : cell.length === kind.length
    votes += fits ? ('number' in kind ? -2 : -1) : 1
  })
  return votes >= 0
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

/**
 * Passages of whole rows (a blank line between rows), each row with its header names.
 * `header`: whether the first row names the columns; detected when not given.
 */
export function csvPassages(text: string, maxChars = PASSAGE_CHARS, header?: boolean): Passage[] {
  const records = readCsv(text)
  if (records.length === 0) throw new CsvUnreadable('the file has no rows')
  const named = header ?? hasHeaderRow(records)
  const names = named ? records[0]! : []
  const rows = named ? records.slice(1) : records
  if (rows.length === 0) throw new CsvUnreadable('the file has a header row but no data rows')
  const passages: Passage[] = []
  let current = ''
  const flush = () => {
    if (current) passages.push({ content: current, heading: null })
    current = ''
  }
  for (const row of rows) {
    for (const piece of rowPieces(rowText(names, row), maxChars)) {
      if (current && current.length + piece.length + 2 > maxChars) flush()
      current = current ? `${current}\n\n${piece}` : piece
    }
  }
  flush()
  return passages
}
