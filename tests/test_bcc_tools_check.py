"""scripts/bcc_tools_check.py: the classes it gives a tool's run, and the scratch file systems it makes (--mkfs)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from bpfkit import host
from bpfkit.testing import require_capability

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "bcc_tools_check.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bcc_tools_check", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


check = _load()


def test_classes_of_a_run() -> None:
    assert check.classify(None, "Tracing... Hit Ctrl-C\n12:00:01 cat 42\n", "", True) == ("data", "1 data lines")
    assert check.classify(None, "Tracing... Hit Ctrl-C\n", "", True)[0] == "no-data"
    refusal = "Traceback (most recent call last):\n  x\nbpfkit.errors.NotSupportedError: no kprobes\n"
    assert check.classify(1, "", refusal, False) == ("refusal", "no kprobes")
    assert check.classify(1, "", "Traceback (most recent call last):\n  x\nKeyError: 'a'\n", False)[0] == "crash"
    # a refusal printed while its time ran out (the tool was still cleaning up when it got Ctrl-C)
    late = "bpfkit.bcc: error: zfsdist.py: cannot attach 'trace_entry' to kprobe zpl_read: no such function\n"
    assert check.classify(-2, "", late, True) == ("refusal", "zfsdist.py: cannot attach 'trace_entry' to kprobe zpl_read: "
                                                              "no such function")
    # a Ctrl-C that landed in a finalizer is not how the tool ended
    ignored = ("Exception ignored in: <function Fd.__del__ at 0x1>\nTraceback (most recent call last):\n"
               '  File "fd.py", line 1, in __del__\n\nKeyboardInterrupt: \n')
    assert check.classify(0, "Tracing... Hit Ctrl-C to end.\n3 locks 12\n", ignored, True)[0] == "data"


def test_mkfs_spec_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="TYPE:DEVICE"):
        check.mount_scratch("/dev/vda", str(tmp_path))
    with pytest.raises(ValueError, match="no mkfs.nosuchfs"):
        check.mount_scratch("nosuchfs:/dev/vda", str(tmp_path))


@pytest.mark.kernel
def test_mkfs_makes_and_mounts_a_file_system(tmp_path: Path) -> None:
    require_capability(host.CAP_SYS_ADMIN, "making a loop device and mounting it")
    if shutil.which("losetup") is None or shutil.which("mkfs.ext4") is None:
        pytest.fail("needs losetup and mkfs.ext4 (scripts/setup.sh installs e2fsprogs)")
    image = tmp_path / "disk.img"
    with open(image, "wb") as f:
        f.truncate(32 << 20)
    dev = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True,
                         check=True).stdout.strip()
    try:
        mnt, used = check.mount_scratch(f"ext4:{dev}", str(tmp_path))
        try:
            assert used == dev and os.path.ismount(mnt)
            with open(os.path.join(mnt, "f"), "w") as f:
                f.write("x")
            fs = subprocess.run(["findmnt", "-n", "-o", "FSTYPE", mnt], check=True, capture_output=True,
                                text=True).stdout
            assert fs.strip() == "ext4"
        finally:
            subprocess.run(["umount", mnt], check=True)
    finally:
        subprocess.run(["losetup", "-d", dev], check=True)
