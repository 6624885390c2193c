"""BCC's USDT API on the real kernel: USDT(pid=|path=), enable_probe, BPF(usdt_contexts=), bpf_usdt_readarg(_p)
reading the arguments of a PIE executable's and a shared library's probes; tplist-style listing."""

from __future__ import annotations

import ctypes as ct
import os
import re
from collections.abc import Iterator

import pytest

from bpfkit.bcc import BPF, USDT, USDTException
from bpfkit.errors import NotSupportedError
from bpfkit.links._usdt import bpf_cookie_support
from bpfkit.testing import require
from usdt_build import Built, Target, build

pytestmark = [pytest.mark.kernel, pytest.mark.usefixtures("cache_home")]

PROGRAM = r"""
struct data_t {
    s64 a;
    u64 b;
    s64 c;
    u64 d;
    s64 e;
    char s[16];
    u64 hits;
    int rc;
};
BPF_HASH(out, u32, struct data_t);

static int record(struct pt_regs *ctx, u32 slot, int str_arg) {
    struct data_t zero = {};
    struct data_t *d = out.lookup_or_try_init(&slot, &zero);
    if (!d)
        return 0;
    s8 a = 0;
    u16 b = 0;
    int rc = bpf_usdt_readarg(1, ctx, &a);
    rc |= bpf_usdt_readarg(2, ctx, &b);
    rc |= bpf_usdt_readarg(3, ctx, &d->c);
    rc |= bpf_usdt_readarg(4, ctx, &d->d);
    d->a = a;
    d->b = b;
    if (str_arg == 6) {
        rc |= bpf_usdt_readarg(5, ctx, &d->e);
        rc |= bpf_usdt_readarg_p(6, ctx, &d->s, sizeof(d->s));
    } else {
        rc |= bpf_usdt_readarg_p(5, ctx, &d->s, sizeof(d->s));
        rc |= bpf_usdt_readarg(6, ctx, &d->e);
    }
    d->rc = rc;
    d->hits++;
    return 0;
}

int on_hit(struct pt_regs *ctx) { return record(ctx, 0, 6); }
int on_lib(struct pt_regs *ctx) { return record(ctx, 1, 5); }
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("usdt"))


@pytest.fixture
def target(built: Built) -> Iterator[Target]:
    with Target([str(built.exe)]) as t:
        yield t


def slot(b: BPF, k: int) -> object:
    return b["out"][ct.c_uint(k)]


def test_readarg_by_pid_and_by_path(built: Built, target: Target) -> None:
    require("uprobes")
    require("helper:probe_read_kernel@kprobe")  # bpf_usdt_readarg reads pt_regs (lockdown=confidentiality)
    by_pid = USDT(pid=target.pid)
    by_pid.enable_probe("bpfkit_lib:libprobe", "on_lib")
    # without BPF cookies (before 5.15) a PIE's probes are found by address in one process: pid= is needed
    by_path = USDT(path=str(built.exe), pid=None if bpf_cookie_support() else target.pid)
    by_path.enable_probe("hit", "on_hit")  # the name alone finds the provider
    with BPF(text=PROGRAM, usdt_contexts=[by_pid, by_path]) as b:
        assert b.num_open_uprobes() == 2
        assert target.fire() == (1, 1)  # semaphores set while attached
        hit, lib = slot(b, 0), slot(b, 1)
        assert (hit.a, hit.b, hit.c, hit.d, hit.e) == (-5, 65000, -123456, 0x1122334455667788, -9000000000)
        assert hit.s == b"hello usdt" and hit.rc == 0 and hit.hits == 1
        assert (lib.a, lib.b, lib.c, lib.d, lib.e) == (-7, 300, -70000, 0xDEADBEEFCAFE, 42)
        assert lib.s == b"from lib" and lib.rc == 0
    assert target.fire() == (0, 0)


def test_pid_and_path_together_and_ignore_pid(built: Built, target: Target) -> None:
    require("uprobes")
    require("helper:probe_read_kernel@kprobe")  # bpf_usdt_readarg reads pt_regs (lockdown=confidentiality)
    u = USDT(pid=target.pid, path=str(built.lib))
    u.enable_probe("libprobe", "on_lib")
    assert u.enumerate_active_probes() == [(str(built.lib).encode(), b"on_lib", u.enumerate_probes()[0]
                                            .get_location(0).address, target.pid)]
    if not bpf_cookie_support():  # system-wide on a shared library needs BPF cookies (5.15)
        with pytest.raises(NotSupportedError):
            BPF(text=PROGRAM, usdt_contexts=[u], attach_usdt_ignore_pid=True)
        return
    with BPF(text=PROGRAM, usdt_contexts=[u], attach_usdt_ignore_pid=True) as b:
        target.fire()
        assert slot(b, 1).hits == 1 and slot(b, 1).c == -70000


def test_listing_and_arg_types(built: Built, target: Target) -> None:
    probes = {p.short_name(): p for p in USDT(pid=target.pid).enumerate_probes()}
    assert {"bpfkit_test:hit", "bpfkit_test:nosema", "bpfkit_lib:libprobe"} <= set(probes)
    hit = probes["bpfkit_test:hit"]
    assert hit.provider == b"bpfkit_test" and hit.name == b"hit" and hit.bin_path == str(built.exe).encode()
    assert hit.num_locations == 1 and hit.num_arguments == 6 and hit.semaphore != 0
    loc = hit.get_location(0)
    assert str(loc).startswith(str(built.exe)) and loc.num_arguments == 6
    got = [str(loc.get_argument(i)) for i in (0, 3)]
    if os.uname().machine == "x86_64":
        assert got == ["1 signed   bytes @ *(bp - 1)", "8 unsigned bytes @ *(bp - 16)"]
    else:  # the compiler picks the frame register and offsets: BCC names aarch64's xN regs[N], x31 sp
        reg = r"\((?:regs\[\d+\]|sp) [+-] \d+\)"
        assert re.fullmatch(r"1 signed   bytes @ \*" + reg, got[0]) and re.fullmatch(r"8 unsigned bytes @ \*" + reg, got[1]), got
    u = USDT(path=str(built.lib))
    assert [u.get_probe_arg_ctype("libprobe", i) for i in range(6)] == [
        "int8_t", "uint16_t", "int32_t", "uint64_t", "uint64_t", "int32_t"]
    with pytest.raises(USDTException):
        u.get_probe_arg_ctype("libprobe", 6)


def test_errors(built: Built) -> None:
    with pytest.raises(USDTException):
        USDT()
    with pytest.raises(USDTException):
        USDT(path="/nonexistent/binary")
    u = USDT(path=str(built.exe))
    with pytest.raises(USDTException):
        u.enable_probe("no_such_probe", "on_hit")
    with pytest.raises(SystemExit):
        u.enable_probe_or_bail("other:hit", "on_hit")


def test_argument_registers_are_named_as_bcc_names_them() -> None:
    from bpfkit.bcc.usdt import USDTProbeArgument
    from bpfkit.obj._native import EM_AARCH64, EM_X86_64
    from bpfkit.obj._usdt import parse_arg

    def show(spec: str, machine: int) -> tuple[str, bytes]:
        a = USDTProbeArgument(parse_arg(spec, machine))
        return str(a), a.base_register_name

    assert show("-4@-20(%rbp)", EM_X86_64) == ("4 signed   bytes @ *(bp - 20)", b"bp")
    assert show("8@%rdi", EM_X86_64) == ("8 unsigned bytes @ di", b"di")
    assert show("-4@[x29, -20]", EM_AARCH64) == ("4 signed   bytes @ *(regs[29] - 20)", b"regs[29]")
    assert show("8@[sp, 16]", EM_AARCH64) == ("8 unsigned bytes @ *(sp + 16)", b"sp")
    assert show("-2@w3", EM_AARCH64) == ("2 signed   bytes @ regs[3]", b"regs[3]")
