"""The mutation fuzzer (bpfkit.testing.fuzz) as part of the suite: a bounded, seeded run on the kernel.

`make fuzz` runs the same campaign for as long as asked (FUZZ_SECONDS, FUZZ_SEED); here a fixed seed
and count keep it deterministic and to about 20 s. Every input must parse to a spec or raise a
BpfError, load to a Collection or raise a BpfError without leaving an fd, a pin or a kernel object,
and `bpfkit btf dump` (raw and C, in process and a few through the CLI) must exit 0 or 1 with a message.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bpfkit.errors import ObjectFormatError
from bpfkit.testing import fuzz, patience, require

pytestmark = pytest.mark.kernel

SEED = 13
COUNT = 2000


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, bytes]]:
    return fuzz.default_corpus()


def test_corpus_has_tools_and_test_objects(corpus: list[tuple[str, bytes]]) -> None:
    names = {n for n, _ in corpus}
    assert {"bootstrap.bpf.o", "hello.bpf.o", "tailcalls.bpf.o"} <= names
    assert {"core_read_task.bpf.o", "map_in_map.bpf.o", "map_pinning.bpf.o"} <= names
    targets = [fuzz.make_target(n, d) for n, d in corpus]
    cats = set().union(*(t.fields for t in targets))
    assert cats == set(fuzz.CATEGORIES)  # every kind of field is found in some object


def test_inputs_are_deterministic(corpus: list[tuple[str, bytes]]) -> None:
    t = fuzz.make_target(*corpus[0])
    a = [fuzz.mutate(t, random.Random(f"1:{i}")) for i in range(50)]
    b = [fuzz.mutate(t, random.Random(f"1:{i}")) for i in range(50)]
    assert a == b
    assert all(data != t.data for data, done in a if done)


def test_a_broken_contract_is_caught_and_saved(corpus: list[tuple[str, bytes]], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness itself: a parser raising a non-BpfError is a failure with its input saved."""
    from bpfkit.obj import ObjectSpec

    real = ObjectSpec.from_bytes

    calls = [0]

    def flaky(data: bytes) -> ObjectSpec:
        calls[0] += 1
        if calls[0] % 3 == 0:  # not by input length: mutations keep it, and the objects' lengths vary
            raise KeyError("planted")
        return real(data)

    monkeypatch.setattr(ObjectSpec, "from_bytes", staticmethod(flaky))
    camp = fuzz.Campaign(corpus[:2], seed=5, load=False, dump=False, save_dir=tmp_path)
    try:
        camp.run(count=30)
    finally:
        camp.close()
    assert camp.failures and {f.stage for f in camp.failures} == {"parse"}
    assert all(f.error.startswith("KeyError") for f in camp.failures)
    saved = sorted(tmp_path.glob("*.o"))
    assert saved and len(saved) <= 3  # the same defect is saved three times at most
    f = camp.failures[0]
    assert (tmp_path / f"5-{f.index}-{f.target.split('.')[0]}-parse.txt").read_text().startswith("replay:")
    assert camp.outcomes["parse"]["FAIL KeyError"] == len(camp.failures)
    # ... and a BpfError is an allowed outcome, counted by type
    monkeypatch.setattr(ObjectSpec, "from_bytes", staticmethod(lambda d: (_ for _ in ()).throw(ObjectFormatError("x"))))
    camp = fuzz.Campaign(corpus[:1], seed=5, load=False, dump=False)
    try:
        camp.run(count=5)
    finally:
        camp.close()
    assert not camp.failures and camp.outcomes["parse"] == {"ObjectFormatError": 5}


@pytest.mark.slow
@pytest.mark.timeout(patience(600))  # ~20 s alone; a shared machine, or a QEMU guest, takes several times that
def test_bounded_campaign(corpus: list[tuple[str, bytes]], tmp_path: Path) -> None:
    require("object_ids")  # the campaign finds kernel objects a refused load left by walking their ids
    require("pinning")  # loads pin by-name maps under /sys/fs/bpf
    camp = fuzz.Campaign(corpus, seed=SEED, cli_every=150, id_check_every=350, save_dir=tmp_path / "failures")
    try:
        camp.run(count=COUNT)
    finally:
        camp.close()
    report = camp.report()
    print(report)
    assert not camp.failures, f"{report}\nfailing inputs in {tmp_path / 'failures'}"
    assert not camp.orphans, report
    assert camp.inputs == COUNT and camp.mutations >= COUNT
    assert set(camp.by_category) >= set(fuzz.CATEGORIES)
    # the run went through every stage, with successes and refusals both
    o = camp.outcomes
    assert o["parse"]["ok"] and o["parse"]["ObjectFormatError"]
    assert o["load"]["ok"] and sum(o["load"].values()) > o["load"]["ok"]
    for fmt in ("raw", "c"):
        assert o[f"btf dump {fmt}"]["exit 0"] and o[f"btf dump {fmt}"]["exit 1"]
    assert sum(sum(o.get(f"cli btf dump {fmt}", {}).values()) for fmt in ("raw", "c")) >= 2
    assert o["kernel ids"]["clean"] >= 2
