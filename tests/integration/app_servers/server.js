// Node http server for the application-view tests: GET / -> "node ok", /status/<code> -> that
// status with "status <code>\n", POST /echo echoes the body, /chunked?n=N -> N bytes as a chunked
// response, /count -> responses finished so far (not counting /count itself).
// Usage: node server.js PORT
'use strict';
const http = require('http');

const port = Number(process.argv[2] || 3000);
let finished = 0;

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const path = req.url.split('?')[0];
    let status = 404;
    let body = Buffer.from('not found\n');
    if (path === '/chunked') {
      // ?n=N bytes in writes of 7000 without a Content-Length: a chunked response.
      let left = Number(new URL(req.url, 'http://x').searchParams.get('n')) || 0;
      res.on('finish', () => { finished += 1; });
      res.writeHead(200, {'Content-Type': 'application/octet-stream'});
      const more = () => {
        while (left > 0) {
          const k = Math.min(left, 7000);
          left -= k;
          if (!res.write(Buffer.alloc(k, 'c'))) {
            res.once('drain', more);
            return;
          }
        }
        res.end();
      };
      more();
      return;
    }
    if (path === '/count') {
      body = Buffer.from(`${finished}\n`);
      res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': body.length});
      res.end(body);
      return;
    }
    if (path === '/') {
      status = 200;
      body = Buffer.from('node ok\n');
    } else if (path.startsWith('/status/')) {
      status = Number(path.slice('/status/'.length)) || 400;
      body = Buffer.from(`status ${status}\n`);
    } else if (path === '/echo' && req.method === 'POST') {
      status = 200;
      body = Buffer.concat(chunks);
    }
    res.on('finish', () => { finished += 1; });
    if (status === 204 || status === 304) {
      res.writeHead(status);
      res.end();
    } else {
      res.writeHead(status, {'Content-Type': 'text/plain', 'Content-Length': body.length});
      res.end(body);
    }
  });
});
server.keepAliveTimeout = 60000;
server.listen(port, '0.0.0.0', () => console.log(`node listening on ${port}`));
