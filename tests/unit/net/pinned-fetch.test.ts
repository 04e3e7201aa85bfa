// DNS rebinding: the guarded client connects to the address it checked, not to a second
// DNS answer; redirects are checked hop by hop; https still verifies the host name; a
// streamed model answer still streams. Proven under Node and under Deno (the edge
// functions' runtime), against local servers only:
//   - 127.0.0.1 (and ::1) is the platform's inside: it must never receive a request;
//   - 127.0.0.2 stands in for a public address, on the same port;
//   - a TLS server on 127.0.0.2 holds a certificate for model.test, signed by a CA made here.
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  runEgressScenarios,
  STAND_IN_PUBLIC,
  type EgressScenarioParams,
  type EgressScenarioResults,
} from '../../support/egress-scenarios.ts'

const root = resolve(import.meta.dirname, '../../..')
const inside: string[] = []
const standIn: Array<{ path: string; host: string }> = []
const tlsSeen: Array<{ path: string; servername: string | false | null }> = []
const servers: Server[] = []
let params: EgressScenarioParams
let workDir: string

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((done, fail) => {
    server.once('error', fail)
    server.listen(port, host, () => done((server.address() as AddressInfo).port))
  })
}

/** A CA and a certificate for model.test (only), made with the system's openssl. */
function makeCertificates(dir: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  run(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=Konstruct test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  )
  run('req', ...ec, '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=model.test')
  writeFileSync(
    join(dir, 'leaf.ext'),
    'subjectAltName=DNS:model.test\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n',
  )
  run(
    'x509',
    '-req',
    '-in',
    'leaf.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'leaf.pem',
    '-days',
    '2',
    '-extfile',
    'leaf.ext',
  )
  return {
    ca: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    key: readFileSync(join(dir, 'leaf.key'), 'utf8'),
    cert: readFileSync(join(dir, 'leaf.pem'), 'utf8'),
  }
}

function sse(res: ServerResponse, acked: Promise<void>) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  const chunk = (content: string, finish: string | null = null) =>
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`
  res.write(chunk('Hello'))
  void acked.then(() => {
    res.write(chunk(' there', 'stop'))
    res.end('data: [DONE]\n\n')
  })
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'konstruct-egress-'))
  const certs = makeCertificates(workDir)

  const insideHandler = (req: IncomingMessage, res: ServerResponse) => {
    inside.push(`${req.method} ${req.url}`)
    res.end('inside')
  }
  const insideV4 = createHttpServer(insideHandler)
  servers.push(insideV4)
  const port = await listen(insideV4, '127.0.0.1', 0)
  const insideV6 = createHttpServer(insideHandler)
  await listen(insideV6, '::1', port).then(
    () => servers.push(insideV6),
    () => {}, // no IPv6 loopback here: 'localhost' then only means 127.0.0.1
  )

  const publicServer = createHttpServer((req, res) => {
    standIn.push({ path: req.url ?? '', host: req.headers.host ?? '' })
    if (req.url === '/redirect') return res.writeHead(302, { location: '/hello' }).end()
    if (req.url === '/hop') return res.writeHead(302, { location: `http://second.test:${port}/hello` }).end()
    res.end('public')
  })
  servers.push(publicServer)
  await listen(publicServer, STAND_IN_PUBLIC, port)

  let release = () => {}
  let acked = new Promise<void>((done) => (release = done))
  const tlsServer = createHttpsServer({ key: certs.key, cert: certs.cert }, (req, res) => {
    tlsSeen.push({ path: req.url ?? '', servername: (req.socket as TLSSocket).servername })
    if (req.url === '/v1/chat/completions') {
      sse(res, acked)
      return
    }
    if (req.url === '/ack') {
      release()
      acked = new Promise<void>((done) => (release = done))
    }
    res.end('secure')
  })
  servers.push(tlsServer)
  const tlsPort = await listen(tlsServer, STAND_IN_PUBLIC, 0)
  params = { port, tlsPort, ca: certs.ca }
})

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections?.()
    await new Promise((done) => server.close(done))
  }
  rmSync(workDir, { recursive: true, force: true })
})

function expectClosed(results: EgressScenarioResults) {
  // The rebinding name's second answer (127.0.0.1) never got a connection: the one
  // request went to the address that was checked, and the name was asked once.
  expect(results.rebinding).toEqual({ status: 200, body: 'public' })
  expect(results.lookups).toEqual({ localhost: 1 })
  // The redirect is a new hop: the name is asked again, now answers 127.0.0.1, and is refused.
  expect(results.rebindingRedirect).toEqual({ refused: 'blocked_address' })
  expect(results.redirectOk).toEqual({
    status: 200,
    body: 'public',
    redirects: [`http://second.test:${params.port}/hello`],
  })
  // TLS is verified against the name in the URL, though the connection went to an IP.
  expect(results.tlsNamed).toEqual({ status: 200, body: 'secure' })
  expect(results.tlsImpostor).toEqual({ refused: 'network' })
  expect(results.tlsUntrusted).toEqual({ refused: 'network' })
  expect(results.streamed).toEqual({ content: 'Hello there', deltas: ['Hello', ' there'] })
  expect(inside).toEqual([])
}

describe('the guarded client connects to the address it checked', () => {
  it('under Node', async () => {
    standIn.length = 0
    tlsSeen.length = 0
    const results = await runEgressScenarios(params)
    expectClosed(results)
    expect(standIn).toEqual([
      { path: '/hello', host: `localhost:${params.port}` },
      { path: '/redirect', host: `localhost:${params.port}` },
      { path: '/hop', host: `first.test:${params.port}` },
      { path: '/hello', host: `second.test:${params.port}` },
    ])
    // The TLS server saw model.test as the server name (SNI) of every accepted request.
    expect(new Set(tlsSeen.map((seen) => seen.servername))).toEqual(new Set(['model.test']))
  })

  it('under Deno, as the edge functions run it', async () => {
    const require = createRequire(import.meta.url)
    const deno = join(dirname(require.resolve('deno/package.json')), 'deno')
    const output = await new Promise<string>((done, fail) => {
      const child = spawn(
        deno,
        [
          'run',
          '--no-prompt',
          '--no-lock',
          '--node-modules-dir=manual',
          '--allow-net',
          '--allow-env',
          '--allow-read',
          `--config=${join(root, 'functions/deno.json')}`,
          join(root, 'tests/support/egress-probe.ts'),
        ],
        {
          cwd: root,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '',
            DENO_DIR: process.env.KONSTRUCT_DENO_DIR ?? join(root, '.konstruct', 'deno'),
            EGRESS_PROBE: JSON.stringify(params),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (data: Buffer) => (stdout += data.toString()))
      child.stderr.on('data', (data: Buffer) => (stderr += data.toString()))
      child.on('error', fail)
      child.on('exit', (code) => (code === 0 ? done(stdout) : fail(new Error(`deno exited ${code}: ${stderr}`))))
    })
    expectClosed(JSON.parse(output.trim().split('\n').pop()!) as EgressScenarioResults)
  }, 60_000)
})
