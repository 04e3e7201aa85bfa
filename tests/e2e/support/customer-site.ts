// A customer's web page on 127.0.0.1 that embeds the web chat widget with one
// script tag, as a tenant would on their own site.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface CustomerSite {
  server: Server
  url: string
}

export async function startCustomerSite(stackUrl: string, widgetKey: string): Promise<CustomerSite> {
  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Acme Shoes</title></head>
<body>
  <main><h1>Acme Shoes</h1><p>Questions? Use the chat in the corner.</p></main>
  <script src="${stackUrl}/functions/v1/web-chat/widget.js" data-key="${widgetKey}" async></script>
</body>
</html>`
  const server = createServer((req, res) => {
    if (req.url === '/' || req.url?.startsWith('/?')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
      res.end(html)
    } else if (req.url === '/favicon.ico') {
      res.writeHead(204).end()
    } else {
      res.writeHead(404).end()
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }
}
