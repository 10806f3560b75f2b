# Build and install libregwatch for C and C++ hosts.
#
#   make                      release build of libregwatch.so / .a
#   make install PREFIX=/usr/local [DESTDIR=...]
#                             installs lib/libregwatch.so.X.Y.Z (+ soname and
#                             dev symlinks), lib/libregwatch.a,
#                             include/regwatch.h, lib/pkgconfig/regwatch.pc
#   make uninstall PREFIX=...
#   make header               regenerate include/regwatch.h after ABI changes
#   make test                 the whole test suite (scripts/test.sh)

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR    ?=
CARGO      ?= cargo
TARGET_DIR ?= $(shell $(CARGO) metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' 2>/dev/null || echo target)

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR   := $(word 1,$(subst ., ,$(VERSION)))
MINOR   := $(word 2,$(subst ., ,$(VERSION)))
# Before 1.0 every minor release may break the ABI (see build.rs).
ifeq ($(MAJOR),0)
SONAME  := libregwatch.so.$(MAJOR).$(MINOR)
else
SONAME  := libregwatch.so.$(MAJOR)
endif
REL     := $(TARGET_DIR)/release

.PHONY: all build install uninstall header test clean

all: build

build:
	$(CARGO) build --release --lib

install: build
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 0755 $(REL)/libregwatch.so $(DESTDIR)$(LIBDIR)/libregwatch.so.$(VERSION)
	ln -sf libregwatch.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libregwatch.so
	install -m 0644 $(REL)/libregwatch.a $(DESTDIR)$(LIBDIR)/libregwatch.a
	install -m 0644 include/regwatch.h $(DESTDIR)$(INCLUDEDIR)/regwatch.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    regwatch.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/regwatch.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libregwatch.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libregwatch.so $(DESTDIR)$(LIBDIR)/libregwatch.a \
	      $(DESTDIR)$(INCLUDEDIR)/regwatch.h $(DESTDIR)$(LIBDIR)/pkgconfig/regwatch.pc

header:
	REGWATCH_UPDATE_HEADER=1 $(CARGO) build --lib

test:
	scripts/test.sh

clean:
	$(CARGO) clean
	rm -rf build-c
