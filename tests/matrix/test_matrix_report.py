"""Unit tests of the matrix's results: JUnit parsing, failures, text and Markdown tables."""

from __future__ import annotations

import pytest
from matrixlib import report
from matrixlib.report import Column, Outcome

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="2" tests="6">
<testcase classname="tests.maps.test_hash" name="test_update" time="0.01"/>
<testcase classname="tests.maps.test_hash" name="test_ringbuf"><skipped type="pytest.skip"
 message="ringbuf map: EINVAL (needs Linux 5.8)">tests/maps/test_hash.py:9: ringbuf</skipped>
</testcase>
<testcase classname="tests.maps.test_hash" name="test_lpm[v6]"><failure
 message="AssertionError: assert 1 == 2&#10;+ where 1 = len(x)">long traceback
 here</failure></testcase>
<testcase classname="tests.progs.test_xdp.TestXdp" name="test_attach"/>
<testcase classname="tests.progs.test_xdp.TestXdp" name="test_attach"><error
 message="failed on teardown with &quot;OSError&quot;">trace</error></testcase>
<testcase classname="tests.progs.test_xdp.TestXdp" name="test_old"><skipped
 type="pytest.xfail" message="known bug"/></testcase>
</testsuite></testsuites>
"""


def test_parse_junit_reads_every_outcome_with_its_reason() -> None:
    got = report.parse_junit(JUNIT)
    assert got == {
        "tests.maps.test_hash::test_update": Outcome("passed"),
        "tests.maps.test_hash::test_ringbuf": Outcome("skipped",
                                                      "ringbuf map: EINVAL (needs Linux 5.8)"),
        "tests.maps.test_hash::test_lpm[v6]": Outcome("failed", "AssertionError: assert 1 == 2"),
        "tests.progs.test_xdp.TestXdp::test_attach": Outcome(
            "error", 'failed on teardown with "OSError"'),
        "tests.progs.test_xdp.TestXdp::test_old": Outcome("xfailed", "known bug"),
    }


def test_parse_junit_falls_back_to_the_element_text() -> None:
    xml = ('<testsuite><testcase classname="m" name="t"><skipped>  why\n  not </skipped>'
           '</testcase></testsuite>')
    assert report.parse_junit(xml) == {"m::t": Outcome("skipped", "why not")}


def test_parse_junit_rejects_malformed_xml() -> None:
    with pytest.raises(ValueError, match="malformed JUnit"):
        report.parse_junit("<testsuite><testcase")


def test_last_unfinished_test_names_the_hung_test() -> None:
    out = ("kernel: 6.1.0\n"
           "tests/a.py::test_one PASSED                 [ 33%]\n"
           "tests/a.py::test_two SKIPPED (no ringbuf)   [ 66%]\n"
           "tests/a.py::test_three \n")
    assert report.last_unfinished_test(out) == "tests/a.py::test_three"
    assert report.last_unfinished_test(out + "tests/a.py::test_three FAILED\n") is None
    assert report.last_unfinished_test("") is None


def test_parse_verbose_reads_finished_tests_of_an_interrupted_run() -> None:
    out = ("tests/maps/test_hash.py::test_update PASSED            [ 25%]\n"
           "tests/maps/test_hash.py::test_ringbuf SKIPPED (needs 5.8) [ 50%]\n"
           "tests/progs/test_xdp.py::TestXdp::test_attach[a-1] FAILED [ 75%]\n"
           "tests/progs/test_xdp.py::TestXdp::test_hang \n")
    assert report.parse_verbose(out) == {
        "tests.maps.test_hash::test_update": Outcome("passed"),
        "tests.maps.test_hash::test_ringbuf": Outcome("skipped", "needs 5.8"),
        "tests.progs.test_xdp.TestXdp::test_attach[a-1]": Outcome("failed"),
    }


def test_nodeid_to_case_matches_pytest_junit_names() -> None:
    assert report.nodeid_to_case("tests/a/test_b.py::test_c[x/y.py]") == \
        "tests.a.test_b::test_c[x/y.py]"
    assert report.nodeid_to_case("t.py::C::f") == "t.C::f"
    assert report.nodeid_to_case("../../x/t.py::f") == "x.t::f"


def _columns() -> list[Column]:
    a = Column("5.10", "5.10.0-46-amd64", exit_code=1, boot_seconds=8.2, run_seconds=61.0,
               tests={"tests.m::t1": Outcome("passed"),
                      "tests.m::t2": Outcome("skipped", "needs Linux 5.16"),
                      "tests.m::t3": Outcome("failed", "assert 0")})
    b = Column("6.1", "6.1.0-50-amd64", exit_code=0, boot_seconds=7.0, run_seconds=50.0,
               tests={"tests.m::t1": Outcome("passed"), "tests.m::t2": Outcome("passed"),
                      "tests.m::t3": Outcome("passed")})
    c = Column("7.x", "7.2.13+deb14-amd64", status="boot-timeout",
               detail="no MATRIX-BOOTED within 120 s")
    h = Column("host", "6.18.44", exit_code=0, run_seconds=2.0,
               tests={"tests.m::t1": Outcome("passed"),
                      "tests.m::t2": Outcome("skipped", "needs Linux 5.16"),
                      "tests.m::t3": Outcome("passed")})
    return [a, b, c, h]


def test_failures_name_kernel_and_test() -> None:
    fails = report.failures(_columns())
    assert [(f.kernel, f.test) for f in fails] == [("5.10", "tests.m::t3"), ("7.x", None)]
    assert str(fails[0]) == "5.10: tests.m::t3: failed: assert 0"
    assert "boot-timeout" in str(fails[1])


@pytest.mark.parametrize(("col", "expect"), [
    (Column("6.1", exit_code=2, tests={"m::t": Outcome("passed")}), "pytest exited 2"),
    (Column("6.1", exit_code=5), "no tests were selected"),
    (Column("6.1", exit_code=0), "no JUnit results"),
    (Column("6.1", status="run-timeout", detail="still running; in test m::t"), "run-timeout"),
    (Column("6.1", status="not-run", detail="no kernel: gone"), "no kernel: gone"),
])
def test_failures_catch_guest_level_problems(col: Column, expect: str) -> None:
    fails = report.failures([col])
    assert len(fails) == 1
    assert expect in str(fails[0])


def test_no_failures_for_passes_and_skips() -> None:
    assert report.failures(_columns()[1:2] + _columns()[3:]) == []


def test_render_text_has_a_row_per_test_and_numbered_skip_reasons() -> None:
    text = report.render_text(_columns())
    lines = text.splitlines()
    assert lines[0].split() == ["test", "5.10", "6.1", "7.x", "host"]
    assert lines[1].split() == ["5.10.0-46-amd64", "6.1.0-50-amd64", "7.2.13+deb14-amd64",
                                "6.18.44"]
    rows = {ln.split()[0]: ln.split()[1:] for ln in lines[3:6]}
    assert rows == {"m::t1": ["pass", "pass", "boot-timeout", "pass"],
                    "m::t2": ["skip[1]", "pass", "boot-timeout", "skip[1]"],
                    "m::t3": ["FAIL", "pass", "boot-timeout", "pass"]}
    assert "[1] needs Linux 5.16" in lines
    assert any(ln.startswith("boot / run") and "8s / 61s" in ln for ln in lines)


def test_render_markdown_gives_features_summary_and_numbered_skip_reasons() -> None:
    cols = _columns()
    cols[0].features = {"bpf_loop (5.17)": False, "kprobes": True}
    cols[3].features = {"bpf_loop (5.17)": True, "kprobes": "BpfPermissionError: no"}
    md = report.render_markdown(cols).splitlines()
    feats = md.index("### Features (bpfkit's probes)")
    assert md[feats + 2] == ("| feature | 5.10 (5.10.0-46-amd64) | 6.1 (6.1.0-50-amd64) | "
                             "7.x (7.2.13+deb14-amd64) | host (6.18.44) |")
    assert md[feats + 4] == "| bpf_loop (5.17) | no | — | — | yes |"
    assert md[feats + 5] == "| kprobes | yes | — | — | error: BpfPermissionError: no |"
    tests = md.index("### Tests")
    assert "| passed | 1 | 3 | 0 | 2 |" in md[tests:]
    assert "| skipped (probe) | 1 | 0 | 0 | 1 |" in md[tests:]
    assert "| failed | 1 | 0 | 0 | 0 |" in md[tests:]
    table = md.index("| test | 5.10 | 6.1 | 7.x | host |")
    assert md[table + 1] == "|---|---|---|---|---|"
    assert md[table + 3] == "| `m::t2` | skip [1] | pass | boot-timeout | skip [1] |"
    assert md[table + 4].split(" | ")[1] == "**FAILED**"
    assert md[-1] == "1. needs Linux 5.16"


def test_markdown_without_features_has_no_feature_table() -> None:
    assert "### Features" not in report.render_markdown(_columns()[:1])


def test_markdown_escapes_pipes() -> None:
    col = Column("6.1", tests={"m::t[a|b]": Outcome("skipped", "x | y")})
    md = report.render_markdown([col])
    assert "m::t[a\\|b]" in md and "x \\| y" in md


def test_column_json_round_trip() -> None:
    for col in _columns():
        assert Column.from_json(col.to_json()) == col


def test_summary_names_the_commit_of_each_column_when_recorded() -> None:
    cols = _columns()[:2]
    assert "| commit |" not in report.render_markdown(cols)  # results that predate the record
    cols[0].commit = "b4397cc"
    md = report.render_markdown(cols).splitlines()
    assert "| commit | b4397cc | — |" in md
    assert Column.from_json(cols[0].to_json()).commit == "b4397cc"
    old = cols[1].to_json()
    del old["commit"]
    assert Column.from_json(old).commit == ""
