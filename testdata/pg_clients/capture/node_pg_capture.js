const { Client } = require('pg');
const fs = require('fs');
const LOG = '/tmp/pgcapture/log/pg.log';
const marks = [];
const sleep = (ms) => new Promise(r => setTimeout(r, ms));
async function mark(label) { await sleep(150); marks.push([label, fs.statSync(LOG).size]); }
(async () => {
  const port = parseInt(process.argv[2] || '54329');
  const client = new Client({ host: '127.0.0.1', port, user: 'postgres', database: 'home', application_name: 'cap_node_pg' });
  await mark("client.connect()");
  await client.connect();
  const out = {};
  await mark("client.query('SELECT * FROM energy ORDER BY time')  (no params)");
  out.noparams = (await client.query('SELECT * FROM energy ORDER BY time')).rows;
  await mark("client.query('SELECT ... WHERE household = $1 AND power_w > $2', ['h1', 1.0])");
  out.params = (await client.query('SELECT * FROM energy WHERE household = $1 AND power_w > $2', ['h1', 1.0])).rows;
  await mark("client.query('SELECT ... WHERE time >= $1', [new Date('2024-01-02T00:00:00Z')])");
  out.date = (await client.query('SELECT household, time FROM energy WHERE time >= $1 ORDER BY time', [new Date('2024-01-02T00:00:00Z')])).rows;
  await mark("client.query({name: 'by_household', text: 'SELECT count(*) FROM energy WHERE household = $1', values: ['h2']}) x2");
  for (let i = 0; i < 2; i++) {
    out.named = (await client.query({ name: 'by_household', text: 'SELECT count(*) FROM energy WHERE household = $1', values: ['h2'] })).rows;
  }
  await mark("client.query('SELECT 1; SELECT 2')  (multi-statement, simple protocol)");
  out.multi = (await client.query('SELECT 1 AS a; SELECT 2 AS b')).map(r => r.rows);
  await mark("client.query(...) error: SELECT * FROM nope");
  try { await client.query('SELECT * FROM nope'); } catch (e) { out.err = { code: e.code, message: e.message, position: e.position }; }
  await mark("client.end()");
  await client.end();
  await mark("end");
  fs.writeFileSync('/tmp/pgcapture/out/node/node_pg.json', JSON.stringify({ pg: require('pg/package.json').version, node: process.version, app: 'cap_node_pg', marks, results: out }, null, 1));
})().catch(e => { console.error(e); process.exit(1); });
