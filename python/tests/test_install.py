# SPDX-License-Identifier: MIT
"""pip install from the source tree, with Debian's setuptools, offline."""

import os
import shutil
import subprocess
import sys

import pytest

TOP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def test_pip_install_bundled(tmp_path):
    """PIDLOCK_LINK=bundled: the library's sources built in; the installed
    package imports and locks with no libpidlock installed."""
    if subprocess.run([sys.executable, "-m", "pip", "--version"],
                      capture_output=True).returncode != 0:
        pytest.fail("pip is missing: build-aux/deps installs python3-pip")
    # a copy, so that the build leaves nothing in the source tree
    src = tmp_path / "src"
    shutil.copytree(os.path.join(TOP, "python"), src / "python",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    shutil.copytree(os.path.join(TOP, "lib"), src / "lib",
                    ignore=shutil.ignore_patterns("abi"))
    target = tmp_path / "site"
    env = dict(os.environ, PIDLOCK_LINK="bundled", PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                        "--no-build-isolation", "--no-deps", "--target",
                        str(target), str(src / "python")],
                       env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    script = ("import pidlock, sys\n"
              "with pidlock.Lock(path=sys.argv[1]) as lk:\n"
              "    print(pidlock.library_version(), pidlock.inspect(sys.argv[1]).state)\n")
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path / "a.lock")],
                       env=dict(os.environ, PYTHONPATH=str(target)),
                       cwd=str(tmp_path), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [subprocess.check_output(
        ["sed", "-n", r's/^#define PIDLOCK_VERSION_STRING "\(.*\)"/\1/p',
         os.path.join(TOP, "lib", "pidlock.h")], text=True).strip(), "live"]
