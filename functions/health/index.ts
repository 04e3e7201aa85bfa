// Health of the edge functions runtime: public (verify_jwt = false) and cheap, it
// touches neither the database nor any provider, and tells nothing about the caller.

export function handleHealth(_req: Request): Response {
  const body = { status: 'ok', function: 'health', time: new Date().toISOString() }
  return new Response(JSON.stringify(body), {
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  })
}

Deno.serve(handleHealth)
