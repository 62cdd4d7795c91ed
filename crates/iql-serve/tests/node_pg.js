// iql serve from node's `pg`, as its users call it: a parameterised query, a timestamptz read as
// a Date, a boolean as a boolean, and an int8 count as node's pg gives one (a string, as from
// PostgreSQL). Run by wire.rs with the port as its argument; prints "node pg ok".
const { Client } = require("pg");
const assert = require("assert");

(async () => {
  const client = new Client({ host: "127.0.0.1", port: Number(process.argv[2]), user: "iql", database: "digitalocean" });
  await client.connect();
  const rows = (await client.query(
    "SELECT id, public, created_at FROM compute.images WHERE created_at BETWEEN $1 AND $2",
    ["2025-02-21 00:00:00", "2025-02-21 23:59:59"],
  )).rows;
  assert.strictEqual(rows.length, 1);
  assert.ok(rows[0].created_at instanceof Date, String(rows[0].created_at));
  assert.strictEqual(rows[0].created_at.toISOString(), "2025-02-21T23:46:38.000Z");
  assert.strictEqual(rows[0].public, true);
  const count = (await client.query("SELECT count(*) FROM compute.images")).rows[0].count;
  assert.strictEqual(count, "60");
  await client.end();
  console.log("node pg ok");
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
