# SPDX-License-Identifier: MIT
# Included by the top-level Makefile: the Python package (python/).
#
#   make python        build the extension against the library in $(B)
#                      into $(B)/python (PYTHONPATH=$(B)/python to use it)
#   make check-python  its pytest suite (python/tests), part of make check
#
# Debian's /usr/bin/python3 by default, not whatever python3 is first on
# PATH: the package is built for, and tested with, the system's Python.

PYTHON ?= /usr/bin/python3
PY_INCLUDE := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)
PY_EXT     := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
PY_DIR     := $(B)/python/pidlock
PY_MOD     := $(PY_DIR)/_pidlock$(PY_EXT)
PY_SRCS    := $(wildcard python/pidlock/*.py)

CHECK_EXTRA += check-python
.PHONY: python check-python

python: $(PY_MOD) $(PY_SRCS:python/pidlock/%=$(PY_DIR)/%)

# Linked to the shared library, found beside it at run time ($ORIGIN):
# the extension is a client of libpidlock.so.$(SOVERSION) like any other.
$(PY_MOD): python/pidlock/_pidlock.c lib/pidlock.h $(B)/$(LIB_SONAME)
	@mkdir -p $(@D)
	$(CC) $(WARN) -Wno-missing-field-initializers $(CFLAGS) $(SAN) -fPIC -shared \
	    -isystem $(PY_INCLUDE) -Ilib -o $@ $< -L$(B) -lpidlock \
	    -Wl,-rpath,'$$ORIGIN/../..'

$(PY_DIR)/%.py: python/pidlock/%.py
	@mkdir -p $(@D)
	cp $< $@

# Under ASan the interpreter must load the sanitizer runtime first.
PY_SAN_ENV = $(if $(SAN),LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" ASAN_OPTIONS=detect_leaks=0)

# Run from $(B)/python: "python -m pytest" puts the current directory
# first on sys.path, and there it must find the built package, not the
# sources in python/.
check-python: python all
	top=$$PWD && cd $(B)/python && env $(PY_SAN_ENV) PYTHONPATH="$$PWD" PYTHONDONTWRITEBYTECODE=1 \
	    $(PYTHON) -m pytest -q -p no:cacheprovider "$$top/python/tests"
