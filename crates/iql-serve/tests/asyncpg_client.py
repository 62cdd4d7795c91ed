"""iql serve from asyncpg, which decodes every value by the type the statement was described
with: counts are ints, comparisons booleans, date-times datetimes. Run by wire.rs with the port as
its argument; prints "asyncpg ok" when every check held."""
import asyncio
import datetime
import sys

import asyncpg


async def main(port):
    conn = await asyncpg.connect(host="127.0.0.1", port=port, user="iql", database="digitalocean")
    count = await conn.fetchval("SELECT count(*) FROM compute.images")
    assert count == 60 and isinstance(count, int), repr(count)
    row = await conn.fetchrow(
        "SELECT id, public, created_at, name LIKE $1 AS ubuntu FROM compute.images WHERE id = $2",
        "%x64%",
        "100003",
    )
    assert row["id"] == 100003 and row["public"] is True, row
    assert isinstance(row["created_at"], datetime.datetime), row
    assert row["created_at"].tzinfo is not None, row
    assert row["ubuntu"] is True, row
    newest = await conn.fetchval(
        "SELECT max(created_at) FROM compute.images WHERE created_at < $1", "2025-02-22"
    )
    assert newest is not None, newest
    await conn.close()
    print("asyncpg ok")


asyncio.run(main(int(sys.argv[1])))
