"""bpfkit execcount: the execs of a test user, counted per UID in the kernel, printed as the documents do."""

from __future__ import annotations

import argparse
import io
import random
import re
import signal
import subprocess
from collections.abc import Callable

import pytest
from tools_helpers import ToolRun, assert_clean_exit, require_tool

from bpfkit.tools import execcount
from bpfkit.tools._common import Session

pytestmark = pytest.mark.kernel

# sh itself and the three programs it starts: four execve calls by the test user
SCRIPT = "/bin/true; /bin/true; /bin/true"
EXECS = 4


def fresh_uid() -> int:
    """A UID no account and no other test uses, so that its count is only ours."""
    return random.randrange(200_000, 300_000)


def run_as(uid: int) -> None:
    subprocess.run(["/bin/sh", "-c", SCRIPT], user=uid, group=uid, check=True, cwd="/")


def test_counts_the_execs_of_a_user_json(run_tool: Callable[..., ToolRun]) -> None:
    uid = fresh_uid()
    t = run_tool("execcount", "--interval", "0.3")
    t.wait_ready()
    run_as(uid)
    t.wait_for(lambda r: any(c["uid"] == uid for c in r["counts"]))
    rc = t.finish(signal.SIGINT)
    final = t.records[-1]
    counts = {c["uid"]: c["count"] for c in final["counts"]}
    assert counts[uid] == EXECS
    # the counts are totals: a print that came while sh still ran holds fewer, a later one the same or more
    seen = [c["count"] for r in t.records for c in r["counts"] if c["uid"] == uid]
    assert seen == sorted(seen) and all(1 <= n <= EXECS for n in seen), seen
    assert all(set(c) == {"uid", "user", "count"} for c in final["counts"])
    assert next(c for c in final["counts"] if c["uid"] == uid)["user"] is None  # no account has this uid
    assert_clean_exit(t, rc)


def test_documents_format(run_tool: Callable[..., ToolRun]) -> None:
    uid = fresh_uid()
    t = run_tool("execcount", "--interval", "30", json_output=False)
    t.wait_ready()
    run_as(uid)
    rc = t.finish(signal.SIGTERM)  # the final print comes when it stops
    assert len(t.lines) == 1
    fields = t.lines[0].split("\t")
    assert all(re.fullmatch(r"ID \d+: \d+", f) for f in fields), t.lines
    assert f"ID {uid}: {EXECS}" in fields
    assert_clean_exit(t, rc)


def test_format_ids() -> None:
    assert execcount.format_ids({1000: 3, 0: 12}) == "ID 0: 12\tID 1000: 3"
    assert execcount.format_ids({}) == ""


def test_table_in_process() -> None:
    require_tool("execcount")
    out = io.StringIO()
    ns = argparse.Namespace(interval=5.0, table=True)
    with Session(duration=0.2, out=out, err=io.StringIO()) as session:
        assert execcount.run(ns, session) == 0
    header, *rows = out.getvalue().splitlines()
    assert header.split()[1:] == ["UID", "USER", "EXECS"]
    for row in rows:
        uid, user, n = row.split()
        assert int(uid) >= 0 and int(n) > 0 and user
