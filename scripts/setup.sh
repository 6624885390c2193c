#!/usr/bin/env bash
# Set up a fresh machine for bpfkit: Debian packages (clang, llvm, libbpf-dev, bpftool ...)
# when missing, then a virtual environment in .venv/ with bpfkit installed in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v clang >/dev/null 2>&1 || need+=(clang)
command -v llvm-objdump >/dev/null 2>&1 || need+=(llvm)
[ -f /usr/include/bpf/libbpf.h ] || need+=(libbpf-dev)
command -v bpftool >/dev/null 2>&1 || need+=(bpftool)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
[ -f /usr/include/gelf.h ] || need+=(libelf-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
command -v make >/dev/null 2>&1 || need+=(make)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
# sys/sdt.h: the USDT probes of the test programs (tests/links/usdt)
[ -n "$(ls /usr/include/sys/sdt.h /usr/include/*/sys/sdt.h 2>/dev/null)" ] || need+=(systemtap-sdt-dev)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
# mkfs for the scratch file systems of BCC's file-system tools (scripts/bcc_tools_check.py --mkfs, in matrix guests)
for fs in ext4:e2fsprogs xfs:xfsprogs btrfs:btrfs-progs f2fs:f2fs-tools; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "mkfs.${fs%%:*}" >/dev/null 2>&1 || need+=("${fs#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# A Prometheus server for the export tests (tests/export): Debian's package, unpacked (not installed) into
# .cache/prometheus so that no service starts; the tests run it on a free loopback port.
prom=.cache/prometheus/usr/bin/prometheus
if [ ! -x "$prom" ]; then
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq >/dev/null; fi
    (cd "$tmp" && apt-get download prometheus >/dev/null) || { echo "setup: cannot download Debian's prometheus package" >&2; rm -rf "$tmp"; exit 1; }
  fi
  mkdir -p .cache/prometheus
  dpkg-deb -x "$tmp"/prometheus_*.deb .cache/prometheus
  rm -rf "$tmp"
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.bpfkit-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi
