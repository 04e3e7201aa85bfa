// Deciding, before any model call, that a human should take over: the user
// asked for one, or one of the agent's escalation rules matched. Cheap,
// deterministic and explainable — a user who types "talk to a human" gets a
// human even when the model is down, over budget or absent.
//
// A request for a person is a verb of contact ("talk", "speak", "chat", "contact",
// "transfer" …) followed closely by someone to reach ("an agent", "a real person",
// "somebody" …), or a person asked for outright ("I want a human", "live agent",
// "operator please"), in English, Spanish, Portuguese, French, German and Italian.
// Words are matched after folding case and accents, collapsing doubled letters and
// allowing one typo in words of five letters or more ("talkiing", "hyman", "somone"). "I don't need a
// human" is not a request; "I don't know how to talk to an agent" is.
// Measured on Bitext's customer-service utterances: `npm run bench:handoff`.

export interface EscalationRule {
  /** Shown to the admins as the reason, e.g. "legal threat". */
  name: string
  /** Words or phrases, matched case-insensitively on word boundaries. */
  keywords: readonly string[]
}

export interface Escalation {
  source: 'user_request' | 'rule' | 'model'
  reason: string
}

function normalise(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[’`]/g, "'")
    .replace(/[^\p{L}\p{N}']+/gu, ' ')
    .trim()
}

const words = (list: string) => list.split(/\s+/).filter(Boolean)

// Verbs of reaching someone (stems and inflected forms as written).
const CONTACT_VERBS = new Set(
  words(`
    talk talking talked speak speaking spoke chat chatting chatted contact contacting contacted connect connecting
    connected transfer transferring transferred reach reaching call calling put pass escalate communicate
    communicating message hand forward redirect route
    hablar comunicarme comunicar comunicarse contactar conversar charlar pasar pasarme pasame transferir transfiereme
    transferirme ponerme ponme llamar
    falar conversar contatar passar passe transfira transferir
    parler discuter contacter joindre transferer passer passez mettre
    sprechen reden kontaktieren verbinden verbunden chatten erreichen
    parlare contattare chattare passare passarmi trasferire mettermi
  `),
)

// Verbs that close a German clause.
const VERB_LAST = new Set(words(`sprechen reden kontaktieren verbinden verbunden chatten erreichen`))

// Someone to reach. Indefinite pronouns ("someone") count only after a verb of contact.
const PEOPLE = new Set(
  words(`
    human humans person persons people agent agents representative representatives rep reps operator operators staff
    manager supervisor employee employees assistant advisor adviser consultant specialist colleague
    persona personas humano humanos agente agentes asesor asesora operador operadora representante empleado encargado
    gerente pessoa pessoas atendente gente humain humains personne agent conseiller conseillere operateur
    responsable mensch menschen mitarbeiter mitarbeiterin berater beraterin kundenberater menschlichen
    umano umani operatore operatrice consulente
  `),
)
const ANYONE = new Set(
  words(`someone somebody anyone anybody alguien alguem quelqu quelqu'un jemand jemandem jemanden qualcuno`),
)
// Words that may stand between a verb and the person ("talk to one of your live agents").
const FILLERS = new Set(
  words(`
    to with me us through a an the some one of your you real live actual human proper another other please pls
    goddamn damn fucking bloody freaking now right away over in touch directly
    con a un una el la los las al con com um uma o os ao avec au aux une le les du de des mit einem einer einen
    dem der den echten echte echter einen richtigen con uno una il lo col vero vera
    wth wit w tto
  `),
)
// Asking for a person outright: "I want a human", "necesito un agente".
const WANT_VERBS = new Set(
  words(`want wanna need needs get give prefer request requesting demand quiero necesito quero preciso veux voudrais
    besoin mochte moechte will brauche voglio vorrei`),
)
const NEGATION_BEFORE_WANT = new Set(words(`dont don't not never no nao non pas nicht kein keinen`))
const SOLO = new Set(
  words(`human agent operator representative person humano agente operador persona humain operateur mensch operatore`),
)

const VOCABULARY = [...CONTACT_VERBS, ...PEOPLE, ...ANYONE, ...WANT_VERBS]
// Never a correction target: one typo away from an everyday word ("stuff", "teach").
const NOT_CORRECTED = new Set(words(`staff reach route hand pass call`))

function editDistanceAtMostOne(a: string, b: string): boolean {
  if (Math.abs(a.length - b.length) > 1) return false
  let i = 0
  let j = 0
  let edits = 0
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++
      j++
      continue
    }
    if (++edits > 1) return false
    // A swap of two neighbours counts as one edit ("somoene").
    if (a[i] === b[j + 1] && a[i + 1] === b[j] && a.length === b.length) {
      i += 2
      j += 2
    } else if (a.length > b.length) i++
    else if (a.length < b.length) j++
    else {
      i++
      j++
    }
  }
  return edits + (a.length - i) + (b.length - j) <= 1
}

const corrections = new Map<string, string>()
const known = (word: string) =>
  CONTACT_VERBS.has(word) || PEOPLE.has(word) || ANYONE.has(word) || WANT_VERBS.has(word) || FILLERS.has(word)
const sameLetters = (a: string, b: string) => a.length === b.length && [...a].sort().join('') === [...b].sort().join('')

/** The word a token stands for: itself, or the vocabulary word it misspells. */
function canonical(token: string): string {
  const collapsed = token.replace(/(\p{L})\1+/gu, '$1')
  for (const candidate of [token, collapsed]) if (known(candidate)) return candidate
  const cached = corrections.get(token)
  if (cached !== undefined) return cached
  let found = token
  if (token.length <= 3) {
    // "ot", "wiht": a short filler with two letters swapped.
    for (const filler of FILLERS) if (filler.length >= 2 && sameLetters(token, filler)) found = filler
  } else {
    for (const word of VOCABULARY) {
      if (word.length < 4 || NOT_CORRECTED.has(word)) continue
      // Four letters: only a swap or a dropped letter ("atlk", "huma"), so "tall" stays "tall".
      const typo =
        token.length === 4
          ? (sameLetters(token, word) && editDistanceAtMostOne(token, word)) ||
            (word.length === 5 && editDistanceAtMostOne(token, word))
          : editDistanceAtMostOne(token, word) || editDistanceAtMostOne(collapsed, word)
      if (typo) {
        found = word
        break
      }
    }
    if (found === token) {
      for (const filler of FILLERS) if (filler.length === 4 && sameLetters(token, filler)) found = filler
    }
    // Run-on words: "speakwith", "tocontact", "issomeone".
    if (found === token) {
      for (const whole of [token, collapsed]) {
        for (let cut = 2; found === token && cut <= whole.length - 2; cut++) {
          const head = whole.slice(0, cut)
          const tail = whole.slice(cut)
          if (known(head) && known(tail)) found = `${head} ${tail}`
        }
      }
    }
  }
  if (corrections.size < 10_000) corrections.set(token, found)
  return found
}

function tokens(text: string): string[] {
  const out: string[] = []
  for (const raw of normalise(text).split(' ')) {
    if (raw) out.push(...canonical(raw.replace(/'s$/, '')).split(' '))
  }
  return out
}

/** A "don't want / don't need / no need" before position `at` (in the same clause). */
function negatedBefore(list: readonly string[], at: number): boolean {
  for (let i = Math.max(0, at - 6); i < at; i++) {
    const word = list[i]!
    if (word === 'no' && list[i + 1] === 'need') return true
    if (!NEGATION_BEFORE_WANT.has(word)) continue
    // "ich will nicht", "je ne veux pas"
    if (i > 0 && WANT_VERBS.has(list[i - 1]!)) return true
    const next = list.slice(i + 1, i + 3)
    if (next.some((w) => WANT_VERBS.has(w) || w === 'like' || w === 'wish' || w === 'have' || w === 'necesito')) {
      return true
    }
  }
  return false
}

/** True when the message asks for a person. "I don't need a human" is not a request. */
export function detectHumanRequest(text: string): boolean {
  const list = tokens(text)
  if (list.length === 0) return false
  // "human", "agent please", "live agent", "real person"
  const bare = list.filter((w) => !FILLERS.has(w) || w === 'human')
  if (bare.length === 1 && SOLO.has(bare[0]!)) return true
  for (let i = 0; i < list.length; i++) {
    const word = list[i]!
    if (CONTACT_VERBS.has(word)) {
      // Someone within a few words after the verb: "talk to one of your live agents".
      for (let j = i + 1; j < Math.min(list.length, i + 6); j++) {
        const next = list[j]!
        if (PEOPLE.has(next) || ANYONE.has(next)) {
          if (!negatedBefore(list, i)) return true
          break
        }
        if (!FILLERS.has(next)) break
      }
      // Verb last (German "mit einem Menschen sprechen"; "someone to talk to"): the person
      // within three words before it.
      const verbLast = VERB_LAST.has(word) || list[i - 1] === 'to'
      for (let j = i - 1; verbLast && j >= Math.max(0, i - 3); j--) {
        const prev = list[j]!
        if (PEOPLE.has(prev) || ANYONE.has(prev)) {
          if (!negatedBefore(list, j)) return true
          break
        }
        if (!FILLERS.has(prev)) break
      }
    }
    if (WANT_VERBS.has(word)) {
      // "I want a human", "need a real person", "get me an agent" (not "need someone").
      for (let j = i + 1; j < Math.min(list.length, i + 5); j++) {
        const next = list[j]!
        if (PEOPLE.has(next) && next !== 'assistant') {
          if (!negatedBefore(list, i + 1)) return true
          break
        }
        if (!FILLERS.has(next)) break
      }
    }
    // "is there any human available", "is someone available?"
    if ((PEOPLE.has(word) || ANYONE.has(word)) && list.slice(i + 1, i + 3).includes('available')) {
      if (!negatedBefore(list, i)) return true
    }
    // "I can't understand you", "I don't understand ya": the conversation is not working.
    if (
      word === 'understand' &&
      ['you', 'ya', 'u'].includes(list[i + 1]!) &&
      (i + 2 >= list.length ||
        !/^\p{L}/u.test(list[i + 2]!) ||
        ['at', 'anymore', 'but', 'so', 'what', 'how', 'help', 'talk', 'i'].includes(list[i + 2]!))
    ) {
      if (
        list
          .slice(Math.max(0, i - 3), i)
          .some((w) => ['cant', "can't", 'cannot', 'dont', "don't", 'not', 'never'].includes(w))
      )
        return true
    }
    // "you're not helping", "you are useless": the conversation is not working.
    if ((word === 'you' || word === 'u' || word === "you're" || word === 'youre') && i <= 1) {
      const rest = list.slice(i + 1, i + 4)
      if ((rest.includes('not') && rest.some((w) => w === 'helping' || w === 'helpful')) || rest.includes('useless')) {
        return true
      }
    }
    // "a real person", "live agent", "human being" anywhere.
    if (
      (word === 'real' || word === 'live' || word === 'actual') &&
      ['human', 'person', 'agent', 'people'].includes(list[i + 1]!)
    ) {
      if (!negatedBefore(list, i)) return true
    }
    if (word === 'human' && ['please', 'pls', 'now', 'being'].includes(list[i + 1]!) && !negatedBefore(list, i)) {
      return true
    }
  }
  return false
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** The first rule with a keyword in the message, or null. */
export function matchEscalationRule(text: string, rules: readonly EscalationRule[]): EscalationRule | null {
  const clean = ` ${normalise(text)} `
  for (const rule of rules) {
    for (const keyword of rule.keywords) {
      const needle = normalise(keyword)
      if (!needle) continue
      if (new RegExp(` ${escapeRegExp(needle)} `).test(clean)) return rule
    }
  }
  return null
}

/** The pre-model decision for one incoming message. */
export function escalationForMessage(text: string, rules: readonly EscalationRule[] = []): Escalation | null {
  if (detectHumanRequest(text)) return { source: 'user_request', reason: 'The user asked to talk to a human.' }
  const rule = matchEscalationRule(text, rules)
  if (rule) return { source: 'rule', reason: `Escalation rule matched: ${rule.name}` }
  return null
}
