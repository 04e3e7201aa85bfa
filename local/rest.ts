// placeholder, being written
import type { RouteHandler } from './http.ts'
import { sendJson } from './http.ts'
export const handleRest: RouteHandler = async (_req, res) => sendJson(res, 501, { message: 'not implemented yet' })
