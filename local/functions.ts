// placeholder, being written
import { sendJson, type RouteHandler, type StackContext } from './http.ts'
export class FunctionHost {
  constructor(readonly ctx: StackContext) {}
  handle: RouteHandler = async (_req, res) => sendJson(res, 501, { message: 'not implemented yet' })
  async close(): Promise<void> {}
}
