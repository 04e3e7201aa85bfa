// Deno-side bootstrap of one edge function for the local stack (local/functions.ts).
//
//   deno run <permissions> local/deno-host.ts <absolute path of functions/<name>/index.ts>
//
// A function calls `Deno.serve(handler)` with no address, as it does on Supabase.
// This script runs before the function's module and makes that call listen on
// 127.0.0.1 on a free port, then prints one marker line on stdout so the host
// learns the port and knows the function is ready. It runs under Deno, not Node:
// it is type-checked by tsc only against the small slice of Deno declared below.

export {}

/** The line the host waits for: `<marker> <port>`. Keep in sync with local/functions.ts. */
const LISTENING_MARKER = 'KONSTRUCT_FUNCTION_LISTENING'

type Handler = (request: Request, info: unknown) => Response | Promise<Response>
interface ServeOptions {
  handler?: Handler
  hostname?: string
  port?: number
  path?: string
  cert?: string
  key?: string
  onListen?: (address: { port: number; hostname: string }) => void
  [option: string]: unknown
}
interface DenoSlice {
  serve: (...args: unknown[]) => unknown
  args: string[]
  exit(code?: number): never
  stdin: { read(buffer: Uint8Array): Promise<number | null> }
  stdout: { writeSync(data: Uint8Array): number }
}
declare const Deno: DenoSlice

const entrypoint = Deno.args[0]
if (!entrypoint) {
  console.error('deno-host: the entrypoint of the function is missing')
  Deno.exit(2)
}

// The host keeps our stdin open for as long as it lives. End of input means the
// host is gone (even killed with SIGKILL): exit rather than linger as an orphan.
;(async () => {
  const buffer = new Uint8Array(64)
  try {
    while ((await Deno.stdin.read(buffer)) !== null) {
      // nothing is ever sent; reading only detects the end
    }
  } catch {
    // a broken pipe means the same thing
  }
  Deno.exit(0)
})()

let announced = false
const originalServe = Deno.serve.bind(Deno) as (options: ServeOptions, handler: Handler) => unknown

// Every overload of Deno.serve (handler | options, handler | options with handler)
// ends up here; the address is always ours, the rest of the options are kept.
Deno.serve = (...args: unknown[]) => {
  const [first, second] = args
  const options: ServeOptions = typeof first === 'function' ? {} : { ...(first as ServeOptions) }
  const handler = (typeof first === 'function' ? first : (second ?? options.handler)) as Handler
  const ownOnListen = options.onListen
  delete options.handler
  delete options.path
  delete options.cert
  delete options.key
  return originalServe(
    {
      ...options,
      hostname: '127.0.0.1',
      port: 0,
      onListen(address) {
        ownOnListen?.(address)
        if (announced) return
        announced = true
        Deno.stdout.writeSync(new TextEncoder().encode(`${LISTENING_MARKER} ${address.port}\n`))
      },
    },
    handler,
  )
}

// Supabase's runtime offers EdgeRuntime.waitUntil(promise) for work that outlives
// the response; here the process simply lives on, so the promise only needs a
// catch that logs instead of crashing.
const globals = globalThis as { EdgeRuntime?: { waitUntil(promise: Promise<unknown>): Promise<unknown> } }
globals.EdgeRuntime ??= {
  waitUntil: (promise) =>
    Promise.resolve(promise).catch((error: unknown) => console.error('EdgeRuntime.waitUntil task failed:', error)),
}

const entryUrl = new URL(entrypoint.startsWith('file:') ? entrypoint : `file://${entrypoint}`).href
try {
  const module = (await import(entryUrl)) as { default?: { fetch?: Handler } }
  if (!announced && typeof module.default?.fetch === 'function') {
    // `export default { fetch }`, the other way a Deno server can be written.
    const fetchHandler = module.default.fetch.bind(module.default)
    Deno.serve(fetchHandler)
  } else if (!announced) {
    // Deno.serve announces from onListen, a moment after it returns: give it that moment.
    await new Promise((resolve) => setTimeout(resolve, 50))
    if (!announced) {
      console.error(`deno-host: ${entrypoint} did not call Deno.serve(handler)`)
      Deno.exit(1)
    }
  }
} catch (error) {
  console.error(`deno-host: ${entrypoint} failed to load:`, error)
  Deno.exit(1)
}
