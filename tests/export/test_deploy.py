"""deploy/: the systemd unit and the Kubernetes DaemonSet are valid and call the CLI as it parses."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import yaml

from bpfkit.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _parses(argv: list[str]) -> None:
    assert argv[0] == "export"
    ns = build_parser().parse_args(argv)
    assert ns.command == "export"


def test_systemd_unit_runs_the_cli() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "deploy" / "bpfkit-export.service")
    argv = shlex.split(unit["Service"]["ExecStart"])
    assert Path(argv[0]).name == "bpfkit"
    _parses(argv[1:])
    caps = set(unit["Service"]["AmbientCapabilities"].split())
    assert {"CAP_BPF", "CAP_PERFMON"} <= caps


def test_daemonset_is_valid_and_runs_the_cli(tmp_path: Path) -> None:
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "daemonset.yaml").read_text()))
    kinds = {d["kind"]: d for d in docs}
    assert set(kinds) == {"ConfigMap", "DaemonSet"}
    spec = kinds["DaemonSet"]["spec"]["template"]["spec"]
    assert spec["hostPID"] is True
    (c,) = spec["containers"]
    _parses(c["command"][1:] + c["args"])
    assert {"BPF", "PERFMON"} <= set(c["securityContext"]["capabilities"]["add"])
    port = next(p["containerPort"] for p in c["ports"] if p["name"] == "metrics")
    assert c["args"][c["args"].index("--listen") + 1].endswith(f":{port}")
    assert c["livenessProbe"]["httpGet"]["path"] == "/metrics"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    host = {v["name"]: v.get("hostPath", {}).get("path") for v in spec["volumes"]}
    assert host[next(n for n, p in mounts.items() if p == "/sys/kernel/btf")] == "/sys/kernel/btf"
    assert host[next(n for n, p in mounts.items() if p == "/sys/fs/bpf")] == "/sys/fs/bpf"
    # the ConfigMap's configuration is a valid bpfkit export configuration
    from bpfkit.export import check_config, parse_config

    cfg = parse_config(yaml.safe_load(kinds["ConfigMap"]["data"]["export.yaml"]), tmp_path)
    assert check_config(cfg)


def test_example_configs_check(tmp_path: Path) -> None:
    import shutil

    from bpfkit.export import check_config, load_config
    from bpfkit.testing.compile import compile_bpf

    examples = ROOT / "examples" / "export"
    for f in sorted(examples.glob("*.yaml")):
        if (examples / f.name.replace(".yaml", ".bpf.c")).exists():  # an object the user builds: build it here
            shutil.copy(compile_bpf(examples / f.name.replace(".yaml", ".bpf.c")), tmp_path / f.name.replace(".yaml", ".bpf.o"))
            f = shutil.copy(f, tmp_path / f.name)
        assert check_config(load_config(str(f))), f
