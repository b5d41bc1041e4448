# SPDX-License-Identifier: MIT
"""Builds the pidlock extension, linked to libpidlock one of three ways,
chosen by PIDLOCK_LINK:

  installed  the libpidlock that pkg-config finds (libpidlock-dev, or
             make install): the extension depends on libpidlock.so.1
  build      the library built in the tree's build directory
             (PIDLOCK_BUILD, default ../build): how make deb builds
             python3-pidlock
  bundled    the library's sources (../lib) compiled into the extension:
             nothing to install first but libbsd-dev, as for the library
  auto       (default) installed when pkg-config finds pidlock, else
             bundled
"""
import glob
import os
import re
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(HERE, "..", "lib")


def version():
    with open(os.path.join(LIB, "pidlock.h")) as f:
        return re.search(r'#define PIDLOCK_VERSION_STRING "([^"]+)"', f.read())[1]


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args], check=True, text=True,
                             capture_output=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.split()


def extension():
    how = os.environ.get("PIDLOCK_LINK", "auto")
    src = [os.path.relpath(os.path.join(HERE, "pidlock", "_pidlock.c"))]
    if how == "auto":
        how = "installed" if pkg_config("--exists", "pidlock") is not None else "bundled"
    if how == "installed":
        flags = pkg_config("--cflags", "--libs", "pidlock")
        if flags is None:
            raise SystemExit("PIDLOCK_LINK=installed: pkg-config does not find pidlock")
        return Extension("pidlock._pidlock", src, extra_compile_args=flags,
                         extra_link_args=flags)
    if how == "build":
        build = os.environ.get("PIDLOCK_BUILD", os.path.join(HERE, "..", "build"))
        return Extension("pidlock._pidlock", src, include_dirs=[LIB],
                         library_dirs=[build], libraries=["pidlock"])
    if how == "bundled":
        bsd = pkg_config("--cflags", "--libs", "libbsd-overlay")
        if bsd is None:
            raise SystemExit("PIDLOCK_LINK=bundled needs libbsd-dev (pkg-config libbsd-overlay)")
        lib_srcs = sorted(os.path.relpath(p) for p in glob.glob(os.path.join(LIB, "*.c")))
        return Extension("pidlock._pidlock", src + lib_srcs, include_dirs=[LIB],
                         define_macros=[("_GNU_SOURCE", None),
                                        ("PIDLOCK_VERSION", f'"{version()}"')],
                         extra_compile_args=["-std=gnu11", "-fvisibility=hidden",
                                             *[f for f in bsd if not f.startswith("-l")]],
                         extra_link_args=[f for f in bsd if f.startswith("-l")])
    raise SystemExit(f"PIDLOCK_LINK={how}: not installed, build, bundled or auto")


setup(
    name="pidlock",
    version=version(),
    description="Locks that say who holds them: a binding of libpidlock",
    long_description=open(os.path.join(HERE, "README.md")).read(),
    long_description_content_type="text/markdown",
    license="MIT",
    url="https://example.invalid/pidlock",
    python_requires=">=3.9",
    packages=["pidlock"],
    ext_modules=[extension()],
    classifiers=[
        "License :: OSI Approved :: MIT License",
        "Operating System :: POSIX :: Linux",
        "Programming Language :: C",
        "Programming Language :: Python :: 3",
    ],
)
