// A customer's backend: serves the page and exchanges the widget app's credentials for a token
// of the signed-in user. Run: KILN_URL=http://127.0.0.1:8080 APP_ID=wapp_... APP_SECRET=wsec_... node server.mjs
import fs from 'node:fs';
import http from 'node:http';

const { KILN_URL = 'http://127.0.0.1:8080', APP_ID, APP_SECRET, PORT = '3000' } = process.env;
const page = fs.readFileSync(new URL('index.html', import.meta.url));

http.createServer(async (req, res) => {
  if (req.method === 'POST' && req.url === '/my-token-endpoint') {
    const endUserId = 'customer-42'; // your signed-in user's id, from your session
    const answer = await fetch(`${KILN_URL}/api/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appId: APP_ID, appSecret: APP_SECRET, endUserId, expiresIn: '1h' }),
    });
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    return res.end(await answer.text());
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page);
}).listen(Number(PORT), () => console.log(`http://localhost:${PORT}`));
