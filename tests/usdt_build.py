"""Build and drive the USDT test programs of tests/links/usdt (a PIE executable and a shared library).

``build(dest)`` compiles them with cc (sys/sdt.h from systemtap-sdt-dev, which scripts/setup.sh installs);
``Target`` runs the executable: each ``fire()`` makes it hit every probe once and returns the semaphore
values it saw (exe, lib).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

SRC = Path(__file__).resolve().parent / "links" / "usdt"


@dataclass(frozen=True)
class Built:
    """Paths of the built programs."""

    exe: Path
    lib: Path
    exe_fixed: Path  # the same executable linked at a fixed address (-no-pie, ET_EXEC)


def build(dest: Path) -> Built:
    """Compile the library (-O2: register operands) and the executable (-O0: stack operands; PIE and not) into ``dest``."""
    lib = dest / "libbpfkitusdt.so"
    exe = dest / "usdt_target"
    subprocess.run(["cc", "-O2", "-fPIC", "-shared", "-o", str(lib), str(SRC / "usdt_lib.c")], check=True)
    subprocess.run(["cc", "-O0", "-fPIE", "-pie", "-o", str(exe), str(SRC / "usdt_target.c"), str(SRC / "usdt_nosema.c"),
                    f"-L{dest}", "-lbpfkitusdt", "-Wl,-rpath,$ORIGIN"], check=True)
    fixed = dest / "usdt_target_fixed"
    subprocess.run(["cc", "-O0", "-fno-pie", "-no-pie", "-o", str(fixed), str(SRC / "usdt_target.c"),
                    str(SRC / "usdt_nosema.c"), f"-L{dest}", "-lbpfkitusdt", "-Wl,-rpath,$ORIGIN"], check=True)
    return Built(exe, lib, fixed)


class Target:
    """The running test executable; ``fire()`` hits every probe once."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.strip() == "ready", line
        self.pid = self.proc.pid

    def fire(self) -> tuple[int, int]:
        """One round of probes; the (exe, lib) semaphore values the process saw."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        exe, lib = (int(part.split("=")[1]) for part in self.proc.stdout.readline().split())
        return exe, lib

    def close(self) -> None:
        """End the process (end of its input)."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Target:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
