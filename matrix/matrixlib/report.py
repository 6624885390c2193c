"""Results of the matrix: JUnit parsing, the kernel x test table, JSON and Markdown."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PASSED, FAILED, ERROR, SKIPPED, XFAILED = "passed", "failed", "error", "skipped", "xfailed"
_RANK = {PASSED: 0, XFAILED: 1, SKIPPED: 2, FAILED: 3, ERROR: 4}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The result of one test on one kernel; message is the skip reason or failure text."""

    status: str
    message: str = ""


@dataclasses.dataclass
class Column:
    """One kernel of the matrix: how its guest ran and what its tests did."""

    label: str
    release: str = ""
    status: str = "done"  # a guest.GuestResult status, "env-unavailable", or "not-run"
    exit_code: int | None = None
    boot_seconds: float | None = None
    run_seconds: float | None = None
    detail: str = ""
    tests: dict[str, Outcome] = dataclasses.field(default_factory=dict)
    features: dict[str, Any] = dataclasses.field(default_factory=dict)  # probe name -> True/False/error text
    env: str = "plain"  # the host environment (matrixlib.envs) the tests ran in
    commit: str = ""  # the bpfkit commit the tests ran from ("" when the result did not record it)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        d = dataclasses.asdict(self)
        d["tests"] = {k: dataclasses.asdict(v) for k, v in self.tests.items()}
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Column:
        """The inverse of to_json."""
        d = dict(d)
        tests = {k: Outcome(**v) for k, v in d.pop("tests", {}).items()}
        return cls(**d, tests=tests)


def _clean(text: str) -> str:
    return " ".join(text.split())


def case_id(classname: str, name: str) -> str:
    """The row name of a test case: its pytest classname and name."""
    return f"{classname}::{name}" if classname else name


def parse_junit(xml_text: str | bytes) -> dict[str, Outcome]:
    """The outcome of every test case in a pytest JUnit XML report (worst wins on repeats)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"malformed JUnit XML: {exc}") from None
    out: dict[str, Outcome] = {}
    for case in root.iter("testcase"):
        tid = case_id(case.get("classname", ""), case.get("name", "?"))
        outcome = Outcome(PASSED)
        for child in case:
            if child.tag in ("failure", "error"):
                text = (child.get("message") or (child.text or "")).strip()
                first = text.splitlines()[0] if text else ""
                outcome = Outcome(FAILED if child.tag == "failure" else ERROR, _clean(first))
                break
            if child.tag == "skipped":
                kind = XFAILED if child.get("type") == "pytest.xfail" else SKIPPED
                msg = child.get("message") or (child.text or "")
                outcome = Outcome(kind, _clean(msg))
        prev = out.get(tid)
        if prev is None or _RANK[outcome.status] > _RANK[prev.status]:
            out[tid] = outcome
    return out


_RUNNING = re.compile(r"^(?P<id>\S+::\S+)(?: (?P<rest>.*))?$")
_VERDICT = re.compile(r"\b(PASSED|FAILED|SKIPPED|XFAIL|XPASS|ERROR)\b(?: \((?P<why>.*)\))?")
_VERBOSE_STATUS = {"PASSED": PASSED, "FAILED": FAILED, "SKIPPED": SKIPPED, "XFAIL": XFAILED,
                   "XPASS": PASSED, "ERROR": ERROR}


def last_unfinished_test(pytest_output: str) -> str | None:
    """The test a `pytest -v` run was in when it stopped: its last id without a verdict."""
    last: str | None = None
    for line in pytest_output.splitlines():
        m = _RUNNING.match(line.strip())
        if m:
            last = None if _VERDICT.search(m.group("rest") or "") else m.group("id")
    return last


def nodeid_to_case(nodeid: str) -> str:
    """The JUnit row name pytest gives a node id ('a/t.py::C::f[x]' -> 'a.t.C::f[x]')."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    while names[0].startswith(("../", "./")):
        names[0] = names[0].split("/", 1)[1]
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return case_id(".".join(names[:-1]), names[-1])


def parse_verbose(pytest_output: str) -> dict[str, Outcome]:
    """Outcomes from the lines of a `pytest -v` run that stopped before writing its JUnit."""
    out: dict[str, Outcome] = {}
    for line in pytest_output.splitlines():
        m = _RUNNING.match(line.strip())
        if not m:
            continue
        v = _VERDICT.search(m.group("rest") or "")
        if v:
            out[nodeid_to_case(m.group("id"))] = Outcome(_VERBOSE_STATUS[v.group(1)],
                                                          v.group("why") or "")
    return out


@dataclasses.dataclass(frozen=True)
class Failure:
    """Why the command fails: a kernel and, when one is to blame, a test."""

    kernel: str
    test: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.kernel}: {self.test}" if self.test else self.kernel
        return f"{where}: {self.reason}"


def failures(columns: Iterable[Column]) -> list[Failure]:
    """Every failed or errored test, guest that did not finish, and unexplained exit code."""
    out: list[Failure] = []
    for col in columns:
        if col.status == "not-run":
            out.append(Failure(col.label, None, col.detail or "not run"))
            continue
        bad = [(t, o) for t, o in col.tests.items() if o.status in (FAILED, ERROR)]
        for t, o in bad:
            out.append(Failure(col.label, t, f"{o.status}: {o.message}"[:300]))
        if col.status != "done":
            out.append(Failure(col.label, None, f"{col.status}: {col.detail}"))
        elif col.exit_code not in (0, None) and not bad:
            why = "no tests were selected" if col.exit_code == 5 else "see its output"
            out.append(Failure(col.label, None, f"pytest exited {col.exit_code} ({why})"))
        elif col.exit_code == 0 and not col.tests:
            out.append(Failure(col.label, None, "no JUnit results"))
    return out


def _rows(columns: Sequence[Column]) -> list[str]:
    rows: list[str] = []
    seen: set[str] = set()
    for col in columns:
        for t in col.tests:
            if t not in seen:
                seen.add(t)
                rows.append(t)
    return rows


def _short_ids(rows: Sequence[str]) -> dict[str, str]:
    """Drop the dotted package prefix all rows share, keeping the module name."""
    mods = [r.split("::", 1)[0].split(".") for r in rows if "::" in r]
    if len(mods) != len(rows) or not rows:
        return {r: r for r in rows}
    common = 0
    while all(len(m) > common + 1 and m[common] == mods[0][common] for m in mods):
        common += 1
    out = {}
    for r in rows:
        cls, name = r.split("::", 1)
        out[r] = ".".join(cls.split(".")[common:]) + "::" + name
    return out


def _header(col: Column) -> str:
    return col.label if not col.release or col.release == col.label else \
        f"{col.label} ({col.release})"


def _secs(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}s"


def render_text(columns: Sequence[Column]) -> str:
    """The kernel x test matrix for a terminal, with numbered skip reasons below it."""
    rows = _rows(columns)
    short = _short_ids(rows)
    notes: dict[str, int] = {}

    def cell(col: Column, t: str) -> str:
        o = col.tests.get(t)
        if o is None:
            return "-" if col.status == "done" else col.status
        if o.status in (SKIPPED, XFAILED):
            n = notes.setdefault(o.message, len(notes) + 1)
            return f"{'skip' if o.status == SKIPPED else 'xfail'}[{n}]"
        return {PASSED: "pass", FAILED: "FAIL", ERROR: "ERROR"}[o.status]

    table = [["test", *(c.label for c in columns)],
             ["", *(c.release if c.release != c.label else "" for c in columns)]]
    for t in rows:
        table.append([short[t], *(cell(c, t) for c in columns)])
    if not rows:
        table.append(["(no tests)", *(c.status for c in columns)])
    table.append(["guest", *(c.status if c.status != "done" else f"exit {c.exit_code}"
                             for c in columns)])
    table.append(["boot / run", *(f"{_secs(c.boot_seconds)} / {_secs(c.run_seconds)}"
                                  for c in columns)])
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = []
    for i, r in enumerate(table):
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
        if i == 1 or i == len(table) - 3:
            lines.append("  ".join("-" * w for w in widths))
    for msg, n in notes.items():
        lines.append(f"[{n}] {msg or '(no reason given)'}")
    return "\n".join(lines) + "\n"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_features_markdown(columns: Sequence[Column]) -> str:
    """The feature table: what bpfkit's probes found on each kernel (rows from the first column that has them)."""
    rows: list[str] = []
    for col in columns:
        for name in col.features:
            if name not in rows:
                rows.append(name)
    if not rows:
        return ""
    head = "| feature | " + " | ".join(_md_escape(_header(c)) for c in columns) + " |"
    lines = [head, "|---|" + "---|" * len(columns)]
    for name in rows:
        cells = []
        for c in columns:
            v = c.features.get(name)
            cells.append("—" if v is None else "yes" if v is True else "no" if v is False
                         else f"error: {_md_escape(str(v))}")
        lines.append(f"| {_md_escape(name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _summary_markdown(columns: Sequence[Column]) -> list[str]:
    """Per column: tests passed, skipped by a probe, failed; how the guest ended; its timings."""
    head = "| | " + " | ".join(_md_escape(_header(c)) for c in columns) + " |"
    summary = [head, "|---|" + "---|" * len(columns)]
    for word, statuses in (("passed", (PASSED,)), ("skipped (probe)", (SKIPPED, XFAILED)),
                           ("failed", (FAILED, ERROR))):
        summary.append(f"| {word} | " + " | ".join(
            str(sum(o.status in statuses for o in c.tests.values())) for c in columns) + " |")
    summary.append("| guest | " + " | ".join(
        _md_escape(c.status if c.status != "done" else f"exit {c.exit_code}") for c in columns) + " |")
    summary.append("| boot / tests | " + " | ".join(
        f"{_secs(c.boot_seconds)} / {_secs(c.run_seconds)}" for c in columns) + " |")
    if any(c.commit for c in columns):  # which code each column tested, when the tables mix runs
        summary.append("| commit | " + " | ".join(_md_escape(c.commit) or "—" for c in columns) + " |")
    return summary


def _tests_markdown(columns: Sequence[Column]) -> list[str]:
    """The column x test table (pass / FAIL / skip [n]) with the skip reasons numbered below it."""
    rows = _rows(columns)
    short = _short_ids(rows)
    notes: dict[str, int] = {}
    lines = ["| test | " + " | ".join(_md_escape(c.label) for c in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for t in rows:
        cells = []
        for c in columns:
            o = c.tests.get(t)
            if o is None:
                cells.append("—" if c.status == "done" else _md_escape(c.status))
            elif o.status == PASSED:
                cells.append("pass")
            elif o.status in (SKIPPED, XFAILED):
                word = "skip" if o.status == SKIPPED else "xfail"
                n = notes.setdefault(o.message, len(notes) + 1)
                cells.append(f"{word} [{n}]")
            else:
                cells.append(f"**{o.status.upper()}**")
        lines.append(f"| `{_md_escape(short[t])}` | " + " | ".join(cells) + " |")
    if notes:
        lines += ["", "Skip reasons:", ""]
        lines += [f"{n}. {_md_escape(msg) or '(no reason given)'}" for msg, n in notes.items()]
    return lines


def render_markdown(columns: Sequence[Column]) -> str:
    """The matrix for the README: the feature table, a summary per kernel, and the kernel x test
    table (pass / FAIL / skip[n], the skip reasons numbered below it)."""
    out: list[str] = []
    features = render_features_markdown(columns)
    if features:
        out += ["### Features (bpfkit's probes)", "", features]
    out += ["### Tests", "", *_summary_markdown(columns), "", *_tests_markdown(columns)]
    return "\n".join(out) + "\n"


def refusals(columns: Sequence[Column]) -> list[tuple[str, list[str], int, str]]:
    """What each environment refused: (env, its kernels, tests, reason) per distinct skip or
    failure reason, in column order (failures first within an environment)."""
    found: dict[tuple[str, str], tuple[list[str], int]] = {}
    for c in columns:
        kernel = c.label.split(" ", 1)[0]
        ordered = sorted(c.tests.values(), key=lambda o: o.status not in (FAILED, ERROR))
        for o in ordered:
            if o.status in (PASSED, XFAILED):
                continue
            why = o.message if o.status == SKIPPED else f"{o.status.upper()}: {o.message}"
            kernels, n = found.get((c.env, why), ([], 0))
            if kernel not in kernels:
                kernels = [*kernels, kernel]
            found[(c.env, why)] = (kernels, n + 1)
    return [(env, kernels, n, why) for (env, why), (kernels, n) in found.items()]


def render_env_markdown(columns: Sequence[Column], about: Mapping[str, str], note: str = "") -> str:
    """The host-environment matrix (kernel x environment columns): what each environment is, a
    summary per column, what the probes found in each, what each refused and why, and the tests.
    ``note`` (which run wrote it) comes first."""
    out = [note, ""] if note else []
    out += ["### Environments", "", "| environment | what the tests run as |", "|---|---|"]
    seen: list[str] = []
    for c in columns:
        if c.env not in seen:
            seen.append(c.env)
            out.append(f"| `{_md_escape(c.env)}` | {_md_escape(about.get(c.env, ''))} |")
    out += ["", "### Summary", "", *_summary_markdown(columns), ""]
    features = render_features_markdown(columns)
    if features:
        out += ["### Features (bpfkit's probes in each environment)", "", features]
    out += ["### Refused in each environment (tests skipped by a probe, or failed)", ""]
    refused = refusals(columns)
    if not refused:
        out.append("Nothing: every test passed in every environment.")
    out += [f"- `{_md_escape(env)}` ({', '.join(kernels)}), {n} test{'s' if n != 1 else ''}: "
            f"{_md_escape(why) or '(no reason given)'}" for env, kernels, n, why in refused]
    out += ["", "### Tests", "", *_tests_markdown(columns)]
    return "\n".join(out) + "\n"
