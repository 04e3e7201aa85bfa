// The portal's checks on knowledge files before anything is sent: which kinds it takes,
// what it says about the rest, and the content it sends for each kind.
import { describe, expect, it } from 'vitest'
import { checkFile, kindOfFile, readForUpload } from '../../../web/src/lib/knowledge-upload.ts'
import { buildDocx, buildPptx } from '../../support/office-files.ts'

const DOCX_TYPE = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document'

describe('knowledge uploads in the portal', () => {
  it('takes CSV, Word and PowerPoint files by extension or type', () => {
    expect(kindOfFile({ name: 'prices.csv', type: '' })).toBe('csv')
    expect(kindOfFile({ name: 'export', type: 'text/csv' })).toBe('csv')
    expect(kindOfFile({ name: 'Contract.DOCX', type: '' })).toBe('docx')
    expect(kindOfFile({ name: 'contract', type: DOCX_TYPE })).toBe('docx')
    expect(kindOfFile({ name: 'deck.pptx', type: 'application/octet-stream' })).toBe('pptx')
    expect(kindOfFile({ name: 'budget.xlsx', type: 'application/octet-stream' })).toBeNull()
  })

  it('names what it accepts, and the size limit of each kind', () => {
    expect(checkFile({ name: 'budget.xlsx', type: '', size: 10 })).toBe(
      'budget.xlsx is not a .txt, .md, .html, .csv, .pdf, .docx or .pptx file.',
    )
    expect(checkFile({ name: 'big.docx', type: '', size: 10 * 1024 * 1024 + 1 })).toBe(
      'big.docx is 10.0 MB; a Word document can be at most 10 MB.',
    )
    expect(checkFile({ name: 'big.pptx', type: '', size: 10 * 1024 * 1024 + 1 })).toBe(
      'big.pptx is 10.0 MB; a PowerPoint file can be at most 10 MB.',
    )
    expect(checkFile({ name: 'prices.csv', type: '', size: 5 * 1024 * 1024 })).toBeNull()
  })

  it('sends a CSV as text and Word or PowerPoint files as base64 of their bytes', async () => {
    expect(await readForUpload(new File(['Plan,Price\nPro,29\n'], 'prices.csv'), 'csv')).toBe('Plan,Price\nPro,29\n')
    const docx = buildDocx([{ text: 'Hello' }])
    expect(
      Buffer.from(await readForUpload(new File([new Uint8Array(docx)], 'a.docx'), 'docx'), 'base64').equals(
        Buffer.from(docx),
      ),
    ).toBe(true)
    const pptx = buildPptx([{ title: 'Hi' }])
    expect(
      Buffer.from(await readForUpload(new File([new Uint8Array(pptx)], 'a.pptx'), 'pptx'), 'base64').equals(
        Buffer.from(pptx),
      ),
    ).toBe(true)
  })

  it('refuses a file that is not what its name says, before sending it', async () => {
    await expect(readForUpload(new File(['PK not a zip'], 'contract.docx'), 'docx')).rejects.toThrow(
      'contract.docx is not a Word document that can be read (is it password-protected, or an old .doc/.ppt?).',
    )
    const oldDoc = new Uint8Array([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])
    await expect(readForUpload(new File([oldDoc], 'old.pptx'), 'pptx')).rejects.toThrow(
      'old.pptx is not a PowerPoint file that can be read',
    )
    await expect(readForUpload(new File(['a,b\u0000\u0001'], 'data.csv'), 'csv')).rejects.toThrow(
      'data.csv is not a text file.',
    )
  })
})
