// The parts of an Office Open XML file (.docx, .pptx): a zip of XML files, read with fflate.
// Only the parts asked for are inflated, and only while their declared sizes together stay
// within a budget, so a small "zip bomb" cannot take the function's memory.

import { strFromU8, unzipSync } from 'fflate'

/** The file cannot be read as the Office document it claims to be; the message says why. */
export class OfficeFileUnreadable extends Error {
  override readonly name = 'OfficeFileUnreadable'
}

export const MAX_OFFICE_XML_BYTES = 48 * 1024 * 1024

const OLE_SIGNATURE = [0xd0, 0xcf, 0x11, 0xe0]

/** The text of the parts whose names `wanted` accepts, by name. */
export function readOfficeParts(
  bytes: Uint8Array,
  wanted: (name: string) => boolean,
  format: string,
  maxBytes = MAX_OFFICE_XML_BYTES,
): Map<string, string> {
  if (OLE_SIGNATURE.every((b, i) => bytes[i] === b)) {
    // Password-protected Office files and the old binary formats are OLE containers, not zips.
    throw new OfficeFileUnreadable(
      `the file is password-protected or in the old binary format; save it as ${format} without a password`,
    )
  }
  if (bytes[0] !== 0x50 || bytes[1] !== 0x4b) throw new OfficeFileUnreadable(`the file is not a ${format} file`)
  // The sizes the zip declares are checked before anything is inflated.
  let declared = 0
  let files: Record<string, Uint8Array>
  try {
    files = unzipSync(bytes, {
      filter: (file) => {
        if (!wanted(file.name)) return false
        declared += file.originalSize
        return declared <= maxBytes
      },
    })
  } catch {
    throw new OfficeFileUnreadable(`the file is not a ${format} file (its zip structure is damaged)`)
  }
  if (declared > maxBytes) {
    throw new OfficeFileUnreadable(`the file unpacks to more than ${Math.round(maxBytes / 1024 / 1024)} MB of text`)
  }
  const parts = new Map<string, string>()
  for (const [name, data] of Object.entries(files)) parts.set(name, strFromU8(data))
  return parts
}
