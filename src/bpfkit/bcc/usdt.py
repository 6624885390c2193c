"""BCC's ``USDT`` over bpfkit: find ``.note.stapsdt`` probes, enable them, read their arguments in BPF.

``USDT(pid=|path=)`` finds the probes (every file a process maps, or one
binary/library); ``enable_probe(probe, fn_name)`` picks one for a function
of the BCC program; ``BPF(text=..., usdt_contexts=[u])`` attaches them.
``bpf_usdt_readarg(n, ctx, &v)`` and ``bpf_usdt_readarg_p(n, ctx, buf, len)``
read argument ``n`` (1-based) through the spec maps of libbpf's usdt.bpf.h,
which :func:`bpfkit.links.attach_usdt` fills: the probe site is known from the
BPF cookie, so one function may serve several probes.
"""

from __future__ import annotations

import sys

from ..errors import USDTException
from ..links._usdt import IP_MAP, SPECS_MAP, UsdtTarget, attach_usdt, find_usdt_probes
from ..obj._usdt import ArgKind, UsdtArg

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .bpf import BPF

__all__ = ["USDT", "USDT_C_TEXT", "USDTException", "USDTProbe", "USDTProbeArgument", "USDTProbeLocation"]

# The C side: the spec layout of libbpf's usdt.bpf.h, read with the attach cookie (or the probe address)
USDT_C_TEXT = r"""
/* ---- USDT arguments (bpfkit.bcc): the spec maps of libbpf's usdt.bpf.h ---- */
struct __bpfkit_usdt_arg { __u64 val_off; __u32 arg_type; __s16 reg_off; __u8 arg_signed; __s8 arg_bitshift; };
struct __bpfkit_usdt_spec { struct __bpfkit_usdt_arg args[12]; __u64 usdt_cookie; __s16 arg_cnt; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, int);
	__type(value, struct __bpfkit_usdt_spec);
} __bpf_usdt_specs SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, long);
	__type(value, __u32);
} __bpf_usdt_ip_to_spec_id SEC(".maps");
extern const _Bool LINUX_HAS_BPF_COOKIE __kconfig __weak;

static __always_inline int __bpfkit_usdt_arg(struct pt_regs *ctx, __u64 n, long *res)
{
	struct __bpfkit_usdt_spec *spec;
	struct __bpfkit_usdt_arg *a;
	unsigned long val = 0;
	int id;

	*res = 0;
	if (LINUX_HAS_BPF_COOKIE) {
		id = bpf_get_attach_cookie(ctx);
	} else {
		long ip = PT_REGS_IP(ctx);
		__u32 *p = bpf_map_lookup_elem(&__bpf_usdt_ip_to_spec_id, &ip);
		if (!p)
			return -3; /* ESRCH */
		id = *p;
	}
	spec = bpf_map_lookup_elem(&__bpf_usdt_specs, &id);
	if (!spec)
		return -3;
	if (n >= 12 || n >= spec->arg_cnt)
		return -2; /* ENOENT */
	a = &spec->args[n];
	if (a->arg_type == 0) {
		val = a->val_off;
	} else {
		if (bpf_probe_read_kernel(&val, sizeof(val), (void *)ctx + a->reg_off))
			return -14;
		if (a->arg_type == 2) {
			if (bpf_probe_read_user(&val, sizeof(val), (void *)val + a->val_off))
				return -14; /* EFAULT */
		} else if (a->arg_type != 1) {
			return -22;
		}
	}
	val <<= a->arg_bitshift;
	if (a->arg_signed)
		val = ((long)val) >> a->arg_bitshift;
	else
		val = val >> a->arg_bitshift;
	*res = val;
	return 0;
}

#define bpf_usdt_readarg(n, ctx, addr) ({ \
	long __bpfkit_v; \
	int __bpfkit_e = __bpfkit_usdt_arg((struct pt_regs *)(ctx), (n) - 1, &__bpfkit_v); \
	__builtin_memcpy((addr), &__bpfkit_v, sizeof(*(addr)) < 8 ? sizeof(*(addr)) : 8); \
	__bpfkit_e; })
#define bpf_usdt_readarg_p(n, ctx, buf, len) ({ \
	long __bpfkit_p; \
	int __bpfkit_e = __bpfkit_usdt_arg((struct pt_regs *)(ctx), (n) - 1, &__bpfkit_p); \
	__bpfkit_e ? __bpfkit_e : bpf_probe_read_user((buf), (len), (void *)__bpfkit_p); })
"""


def _s(v: str | bytes) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _arg_ctype(arg: UsdtArg) -> str:
    """The C type BCC gives an argument: ``int32_t``, ``uint64_t`` ..."""
    return f"{'' if arg.signed else 'u'}int{arg.size * 8}_t"


def _bcc_reg_name(reg: str) -> str:
    """A register as BCC names it: x86_64's pt_regs field (``di``, ``bp``), aarch64's ``regs[N]`` or ``sp``."""
    if len(reg) > 1 and reg[0] == "x" and reg[1:].isdigit():  # aarch64's xN (bpfkit's slot names)
        return f"regs[{reg[1:]}]"
    return reg


class USDTProbeArgument:
    """One argument of a probe location, described as BCC does (``4 signed   bytes @ di``)."""

    def __init__(self, arg: UsdtArg) -> None:
        self.signed = arg.signed
        self.size = arg.size
        self.arg = arg
        if arg.kind == ArgKind.CONST:
            self.constant = arg.value
        if arg.reg is not None:
            self.base_register_name = _bcc_reg_name(arg.reg).encode()
        if arg.kind == ArgKind.REG_DEREF:
            self.deref_offset = arg.value

    def __str__(self) -> str:
        a = self.arg
        reg = _bcc_reg_name(a.reg) if a.reg is not None else ""
        if a.kind == ArgKind.CONST:
            where = str(a.value)
        elif a.kind == ArgKind.REG:
            where = reg
        else:
            where = f"*({reg} {'+' if a.value >= 0 else '-'} {abs(a.value)})"
        return f"{self.size} {'signed  ' if self.signed else 'unsigned'} bytes @ {where}"


class USDTProbeLocation:
    """One site of a probe: its address and binary."""

    def __init__(self, probe: USDTProbe, index: int, site: UsdtTarget) -> None:
        self.probe = probe
        self.index = index
        self.site = site
        self.address = site.probe.address
        self.bin_path = site.binary.encode()
        self.num_arguments = len(site.probe.args)

    def __str__(self) -> str:
        return f"{self.site.binary} 0x{self.address:x}"

    def get_argument(self, index: int) -> USDTProbeArgument:
        """Argument ``index`` (0-based) at this site."""
        args = self.site.probe.args
        if not 0 <= index < len(args):
            raise USDTException(f"error retrieving probe argument {index} location {self.index}")
        return USDTProbeArgument(args[index])


class USDTProbe:
    """A probe (provider:name in one binary) with its sites; attributes are bytes, as BCC's."""

    def __init__(self, sites: list[UsdtTarget]) -> None:
        first = sites[0]
        self.sites = sites
        self.provider = first.provider.encode()
        self.name = first.name.encode()
        self.bin_path = first.binary.encode()
        self.semaphore = first.probe.semaphore
        self.num_locations = len(sites)
        self.num_arguments = len(first.probe.args)

    def __str__(self) -> str:
        return f"{self.provider.decode()}:{self.name.decode()} [sema 0x{self.semaphore:x}]"

    def short_name(self) -> str:
        """``provider:name``."""
        return f"{self.provider.decode()}:{self.name.decode()}"

    def get_location(self, index: int) -> USDTProbeLocation:
        """Site ``index`` (0-based)."""
        if not 0 <= index < len(self.sites):
            raise USDTException(f"error retrieving probe location {index}")
        return USDTProbeLocation(self, index, self.sites[index])


class USDT:
    """The USDT probes of a process (``pid=``, every file it maps) or a binary (``path=``), as BCC's ``USDT``."""

    def __init__(self, pid: int | None = None, path: str | bytes | None = None) -> None:
        self.pid = pid if pid and pid != -1 else None
        self.path = _s(path) if path else None
        if self.pid is None and self.path is None:
            raise USDTException("either a pid or a binary path must be specified")
        try:
            self._sites = self._find(None, None)
        except (OSError, ValueError) as exc:  # ProcessLookupError, FileNotFoundError, malformed ELF
            what = f"PID {self.pid}" if self.path is None else f"path {self.path}"
            raise USDTException(f"USDT failed to instrument {what}: {exc}") from None
        self._enabled: list[tuple[str, str, str]] = []  # provider, name, fn_name

    def _find(self, provider: str | None, name: str | None) -> list[UsdtTarget]:
        if self.path is not None:
            return find_usdt_probes(self.path, provider, name, pid=self.pid if self.pid is not None else -1)
        assert self.pid is not None
        return find_usdt_probes(self.pid, provider, name)

    def _matching(self, probe: str | bytes) -> list[UsdtTarget]:
        text = _s(probe)
        provider, sep, name = text.partition(":")
        if not sep:
            provider, name = "", text
        return [s for s in self._sites if s.name == name and (not provider or s.provider == provider)]

    def enable_probe(self, probe: str | bytes, fn_name: str | bytes) -> None:
        """Run BPF function ``fn_name`` at probe ``probe`` ("name" or "provider:name")."""
        sites = self._matching(probe)
        if not sites:
            raise USDTException(
                f"Failed to enable USDT probe {_s(probe)!r}: the specified pid might not contain the given "
                "language's runtime, or the runtime was not built with the required USDT probes. Look for a "
                "configure flag similar to --with-dtrace or --enable-dtrace. To check which probes are present "
                "in the process, use the tplist tool.")
        for key in dict.fromkeys((s.provider, s.name) for s in sites):
            self._enabled.append((key[0], key[1], _s(fn_name)))

    def enable_probe_or_bail(self, probe: str | bytes, fn_name: str | bytes) -> None:
        """:meth:`enable_probe`, or print why not and exit(1)."""
        try:
            self.enable_probe(probe, fn_name)
        except USDTException as exc:
            print(exc, file=sys.stderr)
            sys.exit(1)

    def get_context(self) -> USDT:
        """BCC returns its C context handle; here the object itself."""
        return self

    def get_text(self) -> str:
        """The C that ``bpf_usdt_readarg`` needs (added to the program by ``BPF(usdt_contexts=)``)."""
        return USDT_C_TEXT

    def get_probe_arg_ctype(self, probe_name: str | bytes, arg_index: int) -> str:
        """C type of argument ``arg_index`` (0-based) of a probe: ``int32_t``, ``uint64_t`` ..."""
        sites = self._matching(probe_name)
        if not sites:
            raise USDTException(f"no USDT probe {_s(probe_name)!r}")
        args = sites[0].probe.args
        if not 0 <= arg_index < len(args):
            raise USDTException(f"USDT probe {_s(probe_name)!r} has no argument {arg_index}")
        return _arg_ctype(args[arg_index])

    def enumerate_probes(self) -> list[USDTProbe]:
        """Every probe, one per (binary, provider, name) with its sites."""
        groups: dict[tuple[str, str, str], list[UsdtTarget]] = {}
        for s in self._sites:
            groups.setdefault((s.binary, s.provider, s.name), []).append(s)
        return [USDTProbe(sites) for sites in groups.values()]

    def enumerate_active_probes(self) -> list[tuple[bytes, bytes, int, int]]:
        """(binary, fn_name, address, pid) of every enabled probe site, as BCC lists them."""
        out: list[tuple[bytes, bytes, int, int]] = []
        for provider, name, fn in self._enabled:
            for s in self._sites:
                if s.provider == provider and s.name == name:
                    out.append((s.binary.encode(), fn.encode(), s.probe.address, self.pid or -1))
        return out

    def attach_uprobes(self, bpf: BPF, attach_usdt_ignore_pid: bool = False) -> None:
        """Attach every enabled probe to its function of ``bpf`` (called by ``BPF(usdt_contexts=)``)."""
        obj = bpf._obj
        if obj is None:
            raise USDTException("the BPF object was cleaned up")
        specs, ips = obj.maps.get(SPECS_MAP), obj.maps.get(IP_MAP)
        for provider, name, fn in self._enabled:
            prog = bpf._load(fn, type(bpf).KPROBE)
            if self.pid is not None and not attach_usdt_ignore_pid:
                jobs: list[tuple[str | int, int]] = [(self.path if self.path is not None else self.pid, self.pid)]
            else:  # system-wide: every file holding the probe, by the path the kernel can open
                paths = dict.fromkeys(s.path for s in self._sites if s.provider == provider and s.name == name)
                jobs = [(p, -1) for p in paths]
            for target, pid in jobs:
                key = ("uprobe", str(target), f"usdt {provider}:{name}", fn, str(pid))
                if key not in bpf._ctx.links:
                    bpf._ctx.links[key] = attach_usdt(prog, target, provider, name, pid=pid, specs_map=specs,
                                                      ip_map=ips)
