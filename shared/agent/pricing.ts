// What a model call costs, in US dollars per million tokens. The table is a
// default that a tenant or operator can override (pass your own); prices are
// public list prices and will drift, which is why the caller may replace them.
// Models are matched by exact name, then by the longest listed prefix, so a
// dated snapshot ("gpt-4o-mini-2024-07-18") costs what its family costs.

export interface ModelPrice {
  inputPerMillion: number
  outputPerMillion: number
}

export type PriceTable = Readonly<Record<string, ModelPrice>>

export const DEFAULT_PRICES: PriceTable = {
  'gpt-5': { inputPerMillion: 1.25, outputPerMillion: 10 },
  'gpt-5-mini': { inputPerMillion: 0.25, outputPerMillion: 2 },
  'gpt-5-nano': { inputPerMillion: 0.05, outputPerMillion: 0.4 },
  'gpt-4.1': { inputPerMillion: 2, outputPerMillion: 8 },
  'gpt-4.1-mini': { inputPerMillion: 0.4, outputPerMillion: 1.6 },
  'gpt-4.1-nano': { inputPerMillion: 0.1, outputPerMillion: 0.4 },
  'gpt-4o': { inputPerMillion: 2.5, outputPerMillion: 10 },
  'gpt-4o-mini': { inputPerMillion: 0.15, outputPerMillion: 0.6 },
  'o3-mini': { inputPerMillion: 1.1, outputPerMillion: 4.4 },
  'o4-mini': { inputPerMillion: 1.1, outputPerMillion: 4.4 },
  'gpt-3.5-turbo': { inputPerMillion: 0.5, outputPerMillion: 1.5 },
  'text-embedding-3-small': { inputPerMillion: 0.02, outputPerMillion: 0 },
  'text-embedding-3-large': { inputPerMillion: 0.13, outputPerMillion: 0 },
}

/**
 * For models nobody priced (a self-hosted Llama, a new release): a mid-range
 * price, so budgets still bite instead of treating unknown models as free.
 * Self-hosters running their own GPU set their model's price to 0.
 */
export const DEFAULT_MODEL_PRICE: ModelPrice = { inputPerMillion: 2.5, outputPerMillion: 10 }

export function priceOfModel(model: string, prices: PriceTable = DEFAULT_PRICES): ModelPrice {
  const name = model.toLowerCase()
  if (prices[name]) return prices[name]
  let best: string | null = null
  for (const key of Object.keys(prices)) {
    if (name.startsWith(key) && (best === null || key.length > best.length)) best = key
  }
  return best ? prices[best]! : DEFAULT_MODEL_PRICE
}

/** Cost in US dollars, rounded to a millionth of a dollar. */
export function costOfCall(
  model: string,
  usage: { promptTokens: number; completionTokens: number },
  prices: PriceTable = DEFAULT_PRICES,
): number {
  const price = priceOfModel(model, prices)
  const dollars = (usage.promptTokens * price.inputPerMillion + usage.completionTokens * price.outputPerMillion) / 1e6
  return Math.round(dollars * 1e6) / 1e6
}
