// How well hand-off requests are recognised without a model (shared/agent/handoff.ts),
// on Bitext's customer-service utterances (bench/data/README.md: source and licence):
// "requests" are the contact_human_agent intent, "other" a sample of the 26 other
// intents. dev is the 8,000-utterance sample the rules were written against; test the
// 20,000-utterance sample less the utterances both share. Prints one JSON object:
// recall, precision and the misses and false alarms of each split, and how often the
// neighbouring intent contact_customer_service ("customer service hours") fires; and
// the false alarms on every question and sentence of the SQuAD subset (none asks for a
// person, many mention people).
// Usage: npm run bench:handoff
import { readFileSync } from 'node:fs'
import { detectHumanRequest } from '../shared/agent/handoff.ts'

interface Split {
  requests: string[]
  other: Array<{ text: string; intent: string }>
}
const data = JSON.parse(readFileSync(new URL('./data/handoff-requests.json', import.meta.url), 'utf8')) as Record<
  'dev' | 'test',
  Split
>

export function measure(split: Split) {
  const missed = split.requests.filter((text) => !detectHumanRequest(text))
  const others = split.other.filter((o) => o.intent !== 'contact_customer_service')
  const alarms = others.filter((o) => detectHumanRequest(o.text))
  const service = split.other.filter((o) => o.intent === 'contact_customer_service')
  const found = split.requests.length - missed.length
  const round = (x: number) => Math.round(x * 1000) / 1000
  return {
    requests: split.requests.length,
    other: others.length,
    recall: round(found / split.requests.length),
    precision: round(found / Math.max(found + alarms.length, 1)),
    customer_service_flagged: round(
      service.filter((o) => detectHumanRequest(o.text)).length / Math.max(service.length, 1),
    ),
    missed: missed.slice(0, 15),
    false_alarms: alarms.slice(0, 15),
  }
}

/** Questions and sentences that mention people but ask for no one. */
export function squadTexts(): string[] {
  const squad = JSON.parse(readFileSync(new URL('./data/squad-subset.json', import.meta.url), 'utf8')) as {
    articles: Array<{ paragraphs: Array<{ context: string; questions: Array<{ question: string }> }> }>
  }
  const texts: string[] = []
  for (const article of squad.articles) {
    for (const paragraph of article.paragraphs) {
      texts.push(...paragraph.questions.map((q) => q.question), ...paragraph.context.split(/(?<=[.!?])\s+/))
    }
  }
  return texts
}

export const handoffData = data

if (import.meta.url === `file://${process.argv[1]}`) {
  const squad = squadTexts()
  const alarms = squad.filter((text) => detectHumanRequest(text))
  console.log(
    JSON.stringify(
      {
        bench: 'handoff',
        dev: measure(data.dev),
        test: measure(data.test),
        squad: { texts: squad.length, false_alarms: alarms.length, examples: alarms.slice(0, 10) },
      },
      null,
      2,
    ),
  )
}
