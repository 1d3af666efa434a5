"""pytest fixtures for tests that need the lab. Register with ``pytest_plugins = ["lab.pytest_plugin"]``
in the top-level conftest (or run pytest with ``-p lab.pytest_plugin``).

Fixtures:
    lab_factory   function scope: ``lab_factory(pods=3, nodes=0, workloads=[...], placement=...)``
                  returns a started Lab; every lab made is torn down after the test, also when it
                  fails. On failure the last lines of every workload log are added to the report.
    lab_binaries  session scope: the built Go workloads (lab.build.Binaries), built once offline.
    lab_root      session scope: skips the test with a clear reason unless running as root.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Callable, Iterator

import pytest

from lab._util import LabError
from lab.build import Binaries, build_go
from lab.core import Lab

_MISSING_TOOLS = [t for t in ("ip", "curl") if shutil.which(t) is None]


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"_lab_report_{report.when}", report)


@pytest.fixture(scope="session")
def lab_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("lab tests need root (network namespaces, veths, bridges); run them with sudo")
    if _MISSING_TOOLS:
        pytest.skip(f"lab tests need {', '.join(_MISSING_TOOLS)} (Debian: iproute2, curl)")


@pytest.fixture(scope="session")
def lab_binaries() -> Binaries:
    try:
        return build_go()
    except LabError as e:
        pytest.fail(f"building the lab's Go workloads failed: {e}", pytrace=False)


@pytest.fixture
def lab_factory(request: pytest.FixtureRequest, lab_root: None) -> Iterator[Callable[..., Lab]]:
    # Go workloads are built on first use (lab.build caches them), so labs without them need no Go.
    labs: list[Lab] = []

    def make(*args: Any, **kwargs: Any) -> Lab:
        lab = Lab(*args, **kwargs)
        labs.append(lab)
        return lab.start()

    yield make

    call_report = getattr(request.node, "_lab_report_call", None)
    if call_report is not None and call_report.failed:
        for lab in labs:
            for w in lab.workloads:
                request.node.add_report_section(
                    "teardown", f"lab {lab.run_id} {w.pod.name} {w.kind} log", w.log_tail(50))
    for lab in reversed(labs):
        lab.close()
