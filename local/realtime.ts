// placeholder, being written
import type { Server } from 'node:http'
import type { StackContext } from './http.ts'
export function attachRealtime(_server: Server, _ctx: StackContext): { close(): Promise<void> } {
  return { close: async () => {} }
}
