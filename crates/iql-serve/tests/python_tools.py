"""iql serve from Python's tools, as their users drive them: SQLAlchemy 2 with psycopg and with
psycopg2 (connect, the inspector), pandas through an engine (read_sql, read_sql_table), and
server-side cursors (psycopg2's and psycopg 3's named cursors). Run by wire.rs with the port as
its argument; prints "python tools ok" when every check held."""
import datetime
import sys

import pandas
import psycopg
import psycopg2
import sqlalchemy as sa

port = int(sys.argv[1])

for driver in ("psycopg", "psycopg2"):
    engine = sa.create_engine(f"postgresql+{driver}://iql@127.0.0.1:{port}/digitalocean")
    with engine.connect() as conn:
        count = conn.execute(sa.text("SELECT count(*) FROM compute.images")).scalar_one()
        assert count == 60 and isinstance(count, int), (driver, count)
        created = conn.execute(
            sa.text("SELECT created_at FROM compute.images WHERE created_at > :t ORDER BY created_at LIMIT 1"),
            {"t": "2025-02-21 00:00:00"},
        ).scalar_one()
        assert isinstance(created, datetime.datetime), (driver, created)
        assert created.isoformat() == "2025-02-21T23:46:38+00:00", (driver, created)
    inspector = sa.inspect(engine)
    schemas = inspector.get_schema_names()
    assert "compute" in schemas and "databases" in schemas, (driver, schemas)
    tables = inspector.get_table_names(schema="compute")
    assert "images" in tables and "image_actions" in tables, (driver, tables)
    columns = {c["name"]: str(c["type"]) for c in inspector.get_columns("images", schema="compute")}
    assert columns["id"] == "BIGINT", (driver, columns)
    assert columns["public"] == "BOOLEAN", (driver, columns)
    assert columns["created_at"] == "TIMESTAMP", (driver, columns)
    assert inspector.has_table("images", schema="compute"), driver
    assert not inspector.has_table("imagez", schema="compute"), driver

    frame = pandas.read_sql("SELECT id, name, public FROM compute.images ORDER BY id", engine)
    assert len(frame) == 60 and list(frame.columns) == ["id", "name", "public"], (driver, frame)
    assert frame["id"].dtype == "int64", (driver, frame.dtypes)
    regions = pandas.read_sql_table("images", engine, schema="compute", columns=["id", "slug"])
    assert len(regions) == 60, (driver, len(regions))

# psycopg2's named cursor: DECLARE … CURSOR, then FETCH FORWARD itersize FROM it.
with psycopg2.connect(host="127.0.0.1", port=port, user="iql", dbname="iql") as conn:
    with conn.cursor("all_images") as cur:
        cur.itersize = 7
        cur.execute("SELECT id, name FROM digitalocean.compute.images")
        ids = [row[0] for row in cur]
        assert len(ids) == 60 and len(set(ids)) == 60, len(ids)
    with conn.cursor("first_ones") as cur:
        cur.execute("SELECT id FROM digitalocean.compute.images ORDER BY id")
        assert [r[0] for r in cur.fetchmany(3)] == [100003, 100010, 100017]
        cur.scroll(2)  # MOVE FORWARD 2
        assert cur.fetchone()[0] == 100038

# psycopg 3's named cursor: DECLARE, then a Describe of the cursor's portal, then FETCH.
with psycopg.connect(host="127.0.0.1", port=port, user="iql", dbname="iql") as conn:
    with conn.cursor(name="three") as cur:
        cur.execute("SELECT id, public, created_at FROM digitalocean.compute.images ORDER BY id LIMIT 3")
        assert [d.name for d in cur.description] == ["id", "public", "created_at"], cur.description
        rows = cur.fetchall()
        assert [r[0] for r in rows] == [100003, 100010, 100017], rows
        assert rows[0][1] is True and isinstance(rows[0][2], datetime.datetime), rows[0]

print("python tools ok")
