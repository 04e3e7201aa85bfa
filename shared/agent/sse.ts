// Server-sent events, as OpenAI-compatible servers stream chat completions:
// events separated by a blank line, one or more `data:` lines each (joined
// with newlines), `:` comment lines as keep-alives, CRLF or LF line endings.

/** Yields the data of each event in a byte stream, as it arrives. */
export async function* readServerSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let data: string[] = []
  try {
    for (;;) {
      const { done, value } = await reader.read()
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true })
      let newline: number
      while ((newline = buffer.search(/\r\n|\n|\r/)) >= 0) {
        const line = buffer.slice(0, newline)
        const width = buffer.startsWith('\r\n', newline) ? 2 : 1
        // A lone \r at the very end may be half of \r\n still in flight.
        if (!done && width === 1 && buffer[newline] === '\r' && newline === buffer.length - 1) break
        buffer = buffer.slice(newline + width)
        if (line === '') {
          if (data.length) yield data.join('\n')
          data = []
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line.startsWith('data: ') ? 6 : 5))
        }
        // Other fields (event:, id:, retry:) and comments are not used by these APIs.
      }
      if (done) {
        if (buffer.startsWith('data:')) data.push(buffer.slice(buffer.startsWith('data: ') ? 6 : 5))
        if (data.length) yield data.join('\n')
        return
      }
    }
  } finally {
    reader.releaseLock()
  }
}
