"""iql serve from psycopg 3: %s parameters bound server-side, a prepared statement run again,
RETURNING, an error's SQLSTATE and a notice. Run by wire.rs with the port as its argument."""
import sys

import psycopg

port = int(sys.argv[1])
notices = []
with psycopg.connect(host="127.0.0.1", port=port, user="iql", dbname="iql", autocommit=True) as conn:
    conn.add_notice_handler(lambda d: notices.append(d.message_primary))
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, name, public FROM digitalocean.compute.images WHERE image_id = %s",
            ("100003",),
        )
        (image_id, name, public) = cur.fetchone()
        assert image_id == 100003 and isinstance(image_id, int), image_id
        assert public is True, public
        for pattern, want in (("%x64%", None), ("x' OR '1'='1", 0)):
            cur.execute(
                "SELECT count(*) FROM digitalocean.compute.images WHERE name LIKE %s",
                (pattern,),
                prepare=True,
            )
            n = int(cur.fetchone()[0])
            assert want is None or n == want, (pattern, n)
        cur.execute(
            "INSERT INTO digitalocean.compute.images (name, url, region) VALUES (%s, %s, %s) RETURNING name",
            ("from-python", "https://example.com/p.qcow2", "nyc3"),
        )
        assert cur.fetchone()[0] == "from-python"
        cur.execute("SELECT id FROM digitalocean.compute.images WHERE image_id IN (1, 100010)")
        assert [r[0] for r in cur.fetchall()] == [100010]
        try:
            cur.execute("SELECT nope FROM digitalocean.compute.images")
            raise SystemExit("no error")
        except psycopg.errors.UndefinedColumn as e:
            assert e.sqlstate == "42703", e.sqlstate
assert any("has nothing for image_id = 1" in n for n in notices), notices
print("psycopg ok")
