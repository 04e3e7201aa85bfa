// What to tell a person about a refused api call, on the server (form actions) and in the
// browser (direct rpc): codes from supabase/README.md. Konstruct's own KO0xx codes (last
// owner, invitations, plan limits: KO010 agents, KO011 channel kinds …) and invalid-argument
// or conflict errors carry a sentence written for people, so it is shown; any other
// database text never is.

/** The database's own sentence, capitalised and ended with a full stop. */
export function asSentence(message: string): string {
  const text = message.trim()
  return text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? '' : '.')
}

export function explainCode(code: string | undefined, message: string | undefined, httpStatus?: number): string {
  const text = (message ?? '').trim()
  if (code && /^KO0\d\d$/.test(code) && text) return asSentence(text)
  switch (code) {
    case '42501':
      return 'Your role does not allow this.'
    case 'P0002':
      return 'That no longer exists.'
    case '22023':
    case '23505':
    case '55000':
      if (text) return asSentence(text)
  }
  if (httpStatus === 413) return 'That is too large for the server to accept.'
  return 'Something went wrong. Try again.'
}
