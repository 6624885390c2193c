"""The host environments of the matrix: choice, run.sh lines, command prefixes, the env table."""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from matrixlib import debian, envs, report


def _load(name: str) -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "matrix" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"matrix_{name}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[f"matrix_{name}"] = mod
    spec.loader.exec_module(mod)
    return mod


run = _load("run")
PLAIN = envs.BY_NAME[envs.PLAIN]


def _pairs(argv: list[str]) -> list[tuple[str, str]]:
    args = run.parse_args(argv)[0]
    specs, _host = run.choose_kernels(args)
    return [(s.label, e.name) for s, e in run.choose_runs(args, specs)]


def test_parse_env_args_in_table_order_with_all_and_commas() -> None:
    assert [e.name for e in envs.parse_env_args(["token", "caps"])] == ["caps", "token"]
    assert [e.name for e in envs.parse_env_args(["caps,lockdown=integrity"])] == ["lockdown=integrity", "caps"]
    everything = envs.parse_env_args([envs.ALL])
    assert PLAIN not in everything and len(everything) == len(envs.ENVS) - 1
    assert envs.parse_env_args([envs.ALL, envs.PLAIN])[0] == PLAIN
    with pytest.raises(ValueError, match="unknown environment 'lockdown'"):
        envs.parse_env_args(["lockdown"])


def test_full_run_is_plain_everywhere_and_every_env_on_the_env_kernels() -> None:
    pairs = _pairs([])
    assert [p for p in pairs if p[1] == envs.PLAIN] == [(s.label, envs.PLAIN) for s in debian.DEFAULT_KERNELS]
    others = {e.name for e in envs.ENVS if not e.plain}
    assert {(k, e) for k, e in pairs if e != envs.PLAIN} == {(k, e) for k in run.ENV_KERNELS for e in others}
    assert run.choose_kernels(run.parse_args([])[0])[1]  # and the host


def test_env_without_kernel_runs_on_the_env_kernels_only() -> None:
    assert _pairs(["--env", "caps"]) == [(k, "caps") for k in run.ENV_KERNELS]
    assert not run.choose_kernels(run.parse_args(["--env", "caps"])[0])[1]
    assert _pairs(["--env", "plain"]) == [(s.label, envs.PLAIN) for s in debian.DEFAULT_KERNELS]
    assert _pairs(["--kernel", "6.1", "--env", "token"]) == [("6.1", "token")]
    assert _pairs(["--kernel", "6.1"]) == [("6.1", envs.PLAIN)]
    assert _pairs(["--quick"]) == [("7.x", envs.PLAIN)]
    assert _pairs(["--quick", "--env", "caps"]) == [("7.x", "caps")]


def test_committed_tables_only_from_runs_full_for_them() -> None:
    def outputs(argv: list[str]) -> set[str]:
        args, extra = run.parse_args(argv)
        specs, host = run.choose_kernels(args)
        return set(run.markdown_outputs(args, extra, run.choose_runs(args, specs), host))

    assert outputs([]) == {"kernels", "envs", "arm64"}
    assert outputs(["--env", "all"]) == {"envs"}
    assert outputs(["--env", "plain"]) == {"kernels", "arm64"}
    assert outputs(["--env", "caps"]) == set()
    assert outputs(["--quick", "--env", "all"]) == set()
    assert outputs(["--env", "all", "--", "-k", "maps"]) == set()
    assert outputs(["--no-host"]) == {"envs", "arm64"}
    assert outputs(["--kernel", "6.1-arm64", "--kernel", "6.12-arm64"]) == {"arm64"}
    assert outputs(["--kernel", "6.12-arm64"]) == set()


def test_column_labels_and_result_dirs() -> None:
    assert envs.column_label("6.12", PLAIN) == "6.12"
    label = envs.column_label("7.x", envs.BY_NAME["lockdown=integrity"])
    assert label == "7.x lockdown=integrity" and envs.dir_name(label) == "7.x_lockdown=integrity"


def test_lockdown_envs_set_the_command_line_and_check_it() -> None:
    for mode in ("integrity", "confidentiality"):
        env = envs.BY_NAME[f"lockdown={mode}"]
        assert env.cmdline == f"lockdown={mode}" and env.user is None
        lines = envs.setup_lines(env, [])
        check = next(ln for ln in lines if "/sys/kernel/security/lockdown" in ln and "grep" in ln)
        assert f"\\[{mode}\\]" in check and check.endswith(f"exit {envs.UNAVAILABLE}; }}")
        assert "export CI=true  # a skip other than a probe's is a failure" in lines
        assert envs.prefix(env, "py", Path("t.py")) == []
    assert envs.setup_lines(PLAIN, [Path("/")]) == ["export BPFKIT_MATRIX_ENV=plain"]


def test_caps_runs_as_nobody_with_three_capabilities_only() -> None:
    wrap = envs.prefix(envs.BY_NAME["caps"], "py", Path("t.py"))
    assert wrap[0] == "setpriv" and wrap[-1] == "--"
    opts = dict(a.split("=", 1) for a in wrap[1:-1] if "=" in a)
    assert opts["--reuid"] == opts["--regid"] == str(envs.NOBODY)
    for key in ("--inh-caps", "--ambient-caps", "--bounding-set"):
        assert opts[key] == "-all,+bpf,+perfmon,+net_admin"
    assert "--clear-groups" in wrap


def test_caps_prefix_gives_exactly_those_capabilities() -> None:
    """setpriv as the matrix calls it, on this host (root needed to change uid)."""
    if os.geteuid() != 0:
        pytest.skip("probe: setpriv needs root to switch to uid 65534 (not root here)")
    wrap = envs.prefix(envs.BY_NAME["caps"], "py", Path("t.py"))
    out = subprocess.run([*wrap, "sh", "-c", "id -u; grep -E '^Cap(Eff|Amb|Bnd)' /proc/self/status"],
                         capture_output=True, text=True, check=True).stdout.split()
    caps = (1 << 38) | (1 << 39) | (1 << 12)  # CAP_PERFMON, CAP_BPF, CAP_NET_ADMIN
    assert out[0] == str(envs.NOBODY)
    assert [int(v, 16) for v in out[2::2]] == [caps, caps, caps]


def test_container_prefix_unmounts_bpffs_and_tracefs_in_new_namespaces() -> None:
    wrap = envs.prefix(envs.BY_NAME["container"], "py", Path("t.py"))
    assert wrap[:wrap.index("--")] == ["unshare", "--pid", "--fork", "--mount", "--mount-proc",
                                       "--propagation", "private"]
    script = wrap[wrap.index("-c") + 1]
    for m in ("/sys/fs/bpf", "/sys/kernel/tracing", "/sys/kernel/debug"):
        assert m in script
    assert script.endswith('exec "$@"') and wrap[-1] == "sh"


def test_token_prefix_is_the_launcher_as_root() -> None:
    launcher = run.TOKEN_LAUNCHER
    assert envs.prefix(envs.BY_NAME["token"], "/v/python", launcher) == [
        "/v/python", str(launcher), f"--uid={envs.NOBODY}", "--"]
    assert launcher.exists()


def test_open_paths_binds_unsearchable_directories_back_under_a_tmpfs(tmp_path: Path) -> None:
    closed = tmp_path / "closed"
    (closed / "inner" / "venv").mkdir(parents=True)
    (closed / "other").mkdir()
    closed.chmod(0o700)
    try:
        lines = envs.open_paths([closed / "inner" / "venv", closed / "inner"])
    finally:
        closed.chmod(0o755)
    q = shlex.quote(str(closed))
    i = next(i for i, ln in enumerate(lines) if ln.endswith(f"mount -t tmpfs -o mode=0755 tmpfs {q} || exit 125"))
    keep = lines[i].split()[2]
    assert keep.startswith(f"{envs.OPENED}/") and lines[i].startswith(f"mkdir -p {keep} && mount --bind {q} {keep} && ")
    assert lines[i + 1] == (f"if [ -d {keep}/inner ]; then mkdir {closed}/inner; else touch {closed}/inner; fi && "
                            f"mount --bind {keep}/inner {closed}/inner || exit 125")
    assert len(lines) == i + 2  # 'other' stays hidden; the open inner directories need nothing
    opened = [ln.split()[-4] for ln in lines if " tmpfs " in ln]
    assert opened == sorted(opened, key=lambda p: p.count("/"))  # outer directories first


def test_guest_script_in_an_env_runs_setup_check_probes_and_pytest_as_the_user() -> None:
    argv = ["/repo/.venv/bin/python", "-m", "pytest", f"--junitxml={run.ENV_OUT}/junit.xml"]
    env = envs.BY_NAME["caps"]
    wrap = envs.prefix(env, argv[0], run.TOKEN_LAUNCHER)
    probes = run.features_argv(argv[0], "/tmp/matrix-results/features.json", wrap)
    lines = run.guest_script("6.12 caps", argv, probes, env).splitlines()
    assert "export BPFKIT_MATRIX_ENV=caps" in lines and "export CI=true  # a skip other than a probe's is a failure" in lines
    check = next(i for i, ln in enumerate(lines) if ln.startswith("setpriv") and "/proc/self/status" in ln)
    assert lines[check].endswith(f"|| exit {envs.UNAVAILABLE}")
    assert lines.index(probes) > check and probes.startswith("setpriv ")
    assert lines[-5:] == [f"mkdir -p -m 1777 {run.ENV_OUT}", shlex.join([*wrap, *argv]), "rc=$?",
                          f"cp {run.ENV_OUT}/junit.xml /tmp/matrix-results/ 2>/dev/null", "exit $rc"]


def _col(label: str, env: str, tests: dict[str, report.Outcome]) -> report.Column:
    return report.Column(label, "7.2.13", exit_code=0, tests=tests, env=env,
                         features={"kprobes": env != "caps"})


def test_env_markdown_names_envs_summarises_and_lists_refusals() -> None:
    ok, why = report.Outcome(report.PASSED), "probe: this kernel does not allow tracefs (uid 65534)"
    cols = [_col("7.x caps", "caps", {"t.a::x": report.Outcome(report.SKIPPED, why), "t.a::y": ok}),
            _col("6.12 caps", "caps", {"t.a::x": report.Outcome(report.SKIPPED, why), "t.a::y": ok}),
            _col("7.x token", "token", {"t.a::x": ok, "t.a::y": report.Outcome(report.FAILED, "EPERM")})]
    md = report.render_env_markdown(cols, {"caps": "only three capabilities", "token": "a token"})
    assert "| `caps` | only three capabilities |" in md and "| `token` | a token |" in md
    assert "| passed | 1 | 1 | 1 |" in md and "| failed | 0 | 0 | 1 |" in md
    assert "| kprobes | no | no | yes |" in md
    assert f"- `caps` (7.x, 6.12), 2 tests: {why}" in md
    assert "- `token` (7.x), 1 test: FAILED: EPERM" in md
    assert "| `a::y` | pass | pass | **FAILED** |" in md
    assert report.refusals([_col("7.x caps", "caps", {"t.a::y": ok})]) == []


def test_env_unavailable_is_a_failure_of_its_column() -> None:
    col = report.Column("7.x token", "7.2", status="env-unavailable", exit_code=125, env="token",
                        detail="matrix-env token: unshare(CLONE_NEWUSER): EPERM")
    [f] = report.failures([col])
    assert f.kernel == "7.x token" and f.test is None and "unshare" in f.reason
    assert report.Column.from_json(col.to_json()) == col


def test_readme_block_is_the_env_table_before_its_tests() -> None:
    table = _load("readme_table")
    env_md = "Written by a run.\n\n### Environments\n\n| a |\n\n### Tests\n\n| test | x |\n"
    readme = f"# r\n\n{table.BEGIN} (generated) -->\nold\n{table.END}\n\n## Next\n"
    new = table.updated(readme, env_md)
    assert new == (f"# r\n\n{table.BEGIN} (generated) -->\n{table.INTRO}\n\nWritten by a run.\n\n"
                   f"### Environments\n\n| a |\n{table.END}\n\n## Next\n")
    assert table.updated(new, env_md) == new
    with pytest.raises(ValueError, match="markers"):
        table.updated("# r\n", env_md)
