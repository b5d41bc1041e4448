# SPDX-License-Identifier: MIT
# Included by the top-level Makefile: the library's ABI, kept in the tree.
#
#   make check-abi  compare the built library with lib/abi/libpidlock.abi
#                   (abidiff): any change of a public type, function or
#                   symbol version fails; part of make check
#   make update-abi rewrite lib/abi/libpidlock.abi from the built library,
#                   after a deliberate ABI change (say why in NEWS; a
#                   break also changes SOVERSION: pidlock(3), "ABI")
#
# The XML is written by abidw from the library's DWARF (CFLAGS must keep
# -g), restricted to the types of the public header, with stable type ids
# and no paths, so that it depends on the ABI only.

ABI_XML := lib/abi/libpidlock.abi
ABIDW_FLAGS := --header-file lib/pidlock.h --drop-private-types \
	--no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed \
	--type-id-style hash
# The opaque structs (struct pidlock, struct pidlock_snapshot) are
# declarations in the XML and definitions in the library: abidiff calls
# that harmless and filters it, so their insides may change freely.
ABIDIFF_FLAGS := --no-show-locs

CHECK_EXTRA += check-abi
.PHONY: check-abi update-abi

# Every difference fails, an added function too (abidiff's exit status
# is then 4; an incompatible change adds 8): an addition changes what the
# symbols file and the next release promise, so it is made deliberately.
check-abi: $(B)/$(LIB_SONAME)
	@abidiff $(ABIDIFF_FLAGS) $(ABI_XML) $(B)/$(LIB_SONAME) > $(B)/abi.diff 2>&1; rc=$$?; \
	if [ $$rc -ne 0 ]; then \
		cat $(B)/abi.diff; \
		echo "check-abi: the ABI differs from $(ABI_XML) (abidiff exit $$rc): if deliberate, make update-abi"; \
		exit 1; \
	fi; \
	echo "check-abi: the ABI is $(ABI_XML)'s"

update-abi: $(B)/$(LIB_SONAME)
	@mkdir -p $(dir $(ABI_XML))
	abidw $(ABIDW_FLAGS) --out-file $(ABI_XML) $(B)/$(LIB_SONAME)
