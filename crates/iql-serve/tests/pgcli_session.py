"""pgcli against iql serve under a pseudo-terminal, as its users drive it: it starts (its startup
queries: SHOW TIME ZONE, current_schemas(true), …), `\\dt` lists the provider tables, and typing a
table name completes it from the catalog. Run by wire.rs with the port and a home directory for
pgcli's files; prints "pgcli ok" when every check held."""
import os
import sys

import pexpect

port, home = sys.argv[1], sys.argv[2]
pgcli = os.path.join(os.path.dirname(sys.executable), "pgcli")
env = {"TERM": "xterm", "PAGER": "cat", "HOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
child = pexpect.spawn(
    pgcli,
    ["-h", "127.0.0.1", "-p", port, "-U", "iql", "-d", "digitalocean", "--less-chatty"],
    encoding="utf-8",
    timeout=30,
    dimensions=(50, 200),
    env=env,
)
child.expect(r"digitalocean>")
child.sendline("\\dt compute.image*")
child.expect(r"image_actions")
child.expect(r"digitalocean>")
# Completion from the catalog: "compute.ima" + Tab offers "images".
child.send("SELECT slug FROM compute.ima")
child.send("\t")
child.expect("images")
child.sendcontrol("c")
child.expect(r"digitalocean>")
child.sendline("\\q")
child.expect(pexpect.EOF)
log = open(os.path.join(home, ".config", "pgcli", "log")).read()
assert "ERROR" not in log, log
print("pgcli ok")
