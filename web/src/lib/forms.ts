// use:enhance with a busy flag, so buttons say what is happening and cannot double-submit.
import type { SubmitFunction } from '@sveltejs/kit'

export function withBusy(set: (busy: boolean) => void, options: { reset?: boolean } = {}): SubmitFunction {
  return () => {
    set(true)
    return async ({ update }) => {
      await update({ reset: options.reset ?? false })
      set(false)
    }
  }
}

/** What every action of the portal returns on failure or success, loosely typed for templates. */
export interface FormState {
  step?: string
  done?: string
  errors?: Record<string, string>
  values?: Record<string, string>
  [key: string]: unknown
}

export const formState = (form: unknown): FormState | null => (form ?? null) as FormState | null

/**
 * use:openWhen on a <details>: opens it when the condition becomes true (a form of it came
 * back with errors) and otherwise leaves it as the person left it. `open={…}` would be set
 * again on every reload of the page's data (a live resync), closing what they just opened.
 */
export function openWhen(node: HTMLDetailsElement, open: boolean) {
  if (open) node.open = true
  return {
    update(next: boolean) {
      if (next) node.open = true
    },
  }
}
