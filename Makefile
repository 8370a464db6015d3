# wyng-qubes: build the man page, install into dom0 (or DESTDIR), build the RPM.
#
#   make                      the man page (the bundle must exist: npm ci && npm run build:release)
#   make install DESTDIR=D    install the bundle, qrexec services and policy, the sudoers rule,
#                             Salt modules and formulas, systemd units, logrotate rule, man
#                             page, bash completion, licences, example profiles.yaml (never
#                             overwrites an existing one)
#   make rpm                  noarch RPM in $(RPMBUILD_TOPDIR)/RPMS/noarch/
#   make clean

PREFIX ?= /usr
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
COMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var/lib
QUBESRPCDIR ?= $(SYSCONFDIR)/qubes-rpc
POLICYDIR ?= $(SYSCONFDIR)/qubes/policy.d
# Qubes ships policy files 0664 root:qubes; the group is set when installing as root.
POLICYGROUP ?= qubes
SUDOERSDIR ?= $(SYSCONFDIR)/sudoers.d
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d
LICENSEDIR ?= $(DATADIR)/licenses/wyng-qubes
SALTDIR ?= /srv/salt
# The installed program's interpreter (rpmlint: no /usr/bin/env in a packaged script).
NODE_SHEBANG ?= /usr/bin/node

NODE ?= node
NPM ?= npm
RPMBUILD ?= rpmbuild
# e.g. --nodeps where the build host's rpm database is empty (Debian's rpm package)
RPMBUILD_FLAGS ?=

BUILDDIR := build
BUNDLE := dist/wyng-qubes.mjs
# The rest of the program, loaded by the entry as a command needs it (scripts/build.mjs).
CHUNKS := dist/chunks
# Written by npm run build beside the bundle (scripts/third-party-licenses.mjs).
THIRD_PARTY := dist/THIRD-PARTY-LICENSES
BUNDLED_PROVIDES := dist/bundled-provides.spec
BUNDLED_LICENSES := dist/bundled-licenses.txt
MANPAGE := $(BUILDDIR)/wyng-qubes.1
VERSION := $(shell sed -n 's/^  "version": "\([^"]*\)".*/\1/p' package.json)
RPMBUILD_TOPDIR ?= $(CURDIR)/$(BUILDDIR)/rpmbuild
# The spec's URL: package.json's "homepage"; without one the URL: line is left out.
PROJECT_URL ?= $(shell sed -n 's/^  "homepage": "\([^"]*\)".*/\1/p' package.json)
TARNAME := wyng-qubes-$(VERSION)

# What the source tarball of the RPM holds (the bundle is prebuilt: dom0 builds need no npm).
DIST_FILES := Makefile package.json README.md SECURITY.md LICENSE $(BUNDLE) $(CHUNKS) $(THIRD_PARTY) \
	docs/wyng-qubes.1.md docs/install.md scripts/gen-man.mjs \
	packaging rpc/services rpc/policy rpm_spec \
	salt/_modules/wyng_qubes.py salt/_states/wyng_qubes.py salt/formulas salt/README.md

.PHONY: all man bundle check-release install rpm srpm dist clean

all: man

man: $(MANPAGE)

$(MANPAGE): docs/wyng-qubes.1.md scripts/gen-man.mjs package.json
	@mkdir -p $(BUILDDIR)
	$(NODE) scripts/gen-man.mjs docs/wyng-qubes.1.md $@

# The bundle is built by npm (needs node_modules); `make bundle` rebuilds it.
$(BUNDLE) $(THIRD_PARTY) $(BUNDLED_PROVIDES) $(BUNDLED_LICENSES):
	@echo "$@ is missing: run 'npm ci && npm run build:release' first" >&2
	@exit 1

bundle:
	$(NPM) run build:release

# Nothing installed or packaged carries the test-only crash hook (only dist/test-hooks/ has it).
check-release: $(BUNDLE)
	@if grep -rq 'WYNG_QUBES_TEST' $(BUNDLE) $(CHUNKS); then \
		echo "$(BUNDLE) carries a test hook: run 'npm run build:release'" >&2; exit 1; fi

install: $(BUNDLE) check-release $(THIRD_PARTY) $(MANPAGE)
	install -d -m 0755 $(DESTDIR)$(LIBDIR)/wyng-qubes $(DESTDIR)$(BINDIR)
	sed '1s|^#!.*|#!$(NODE_SHEBANG)|' $(BUNDLE) > $(DESTDIR)$(LIBDIR)/wyng-qubes/wyng-qubes.mjs
	chmod 0755 $(DESTDIR)$(LIBDIR)/wyng-qubes/wyng-qubes.mjs
	rm -rf $(DESTDIR)$(LIBDIR)/wyng-qubes/chunks
	install -d -m 0755 $(DESTDIR)$(LIBDIR)/wyng-qubes/chunks
	install -m 0644 $(CHUNKS)/*.mjs $(DESTDIR)$(LIBDIR)/wyng-qubes/chunks/
	ln -sfr $(DESTDIR)$(LIBDIR)/wyng-qubes/wyng-qubes.mjs $(DESTDIR)$(BINDIR)/wyng-qubes
	install -d -m 0755 $(DESTDIR)$(QUBESRPCDIR) $(DESTDIR)$(POLICYDIR)
	install -m 0755 rpc/services/wyng.* $(DESTDIR)$(QUBESRPCDIR)/
	install -m 0664 rpc/policy/90-wyng-qubes.policy $(DESTDIR)$(POLICYDIR)/90-wyng-qubes.policy
	if [ "$$(id -u)" = 0 ] && getent group $(POLICYGROUP) >/dev/null; then \
		chgrp $(POLICYGROUP) $(DESTDIR)$(POLICYDIR)/90-wyng-qubes.policy; fi
	install -d -m 0750 $(DESTDIR)$(SUDOERSDIR)
	install -m 0440 packaging/sudoers.d/wyng-qubes $(DESTDIR)$(SUDOERSDIR)/wyng-qubes
	install -d -m 0755 $(DESTDIR)$(LOGROTATEDIR)
	install -m 0644 packaging/logrotate.d/wyng-qubes $(DESTDIR)$(LOGROTATEDIR)/wyng-qubes
	install -d -m 0755 $(DESTDIR)$(LICENSEDIR)
	install -m 0644 LICENSE $(THIRD_PARTY) $(DESTDIR)$(LICENSEDIR)/
	install -d -m 0755 $(DESTDIR)$(SALTDIR)/_modules $(DESTDIR)$(SALTDIR)/_states $(DESTDIR)$(SALTDIR)/wyng-qubes
	install -m 0644 salt/_modules/wyng_qubes.py $(DESTDIR)$(SALTDIR)/_modules/wyng_qubes.py
	install -m 0644 salt/_states/wyng_qubes.py $(DESTDIR)$(SALTDIR)/_states/wyng_qubes.py
	install -m 0644 salt/formulas/wyng-qubes/*.sls $(DESTDIR)$(SALTDIR)/wyng-qubes/
	install -m 0644 salt/formulas/top.sls $(DESTDIR)$(SALTDIR)/wyng-qubes.top
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	install -m 0644 'packaging/systemd/wyng-qubes-backup@.service' 'packaging/systemd/wyng-qubes-backup@.timer' $(DESTDIR)$(UNITDIR)/
	install -d -m 0755 $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(COMPLETIONDIR)
	install -m 0644 $(MANPAGE) $(DESTDIR)$(MANDIR)/man1/wyng-qubes.1
	install -m 0644 packaging/wyng-qubes.bash-completion $(DESTDIR)$(COMPLETIONDIR)/wyng-qubes
	install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/wyng-qubes
	test -e $(DESTDIR)$(SYSCONFDIR)/wyng-qubes/profiles.yaml || \
		install -m 0600 packaging/profiles.yaml.example $(DESTDIR)$(SYSCONFDIR)/wyng-qubes/profiles.yaml
	install -d -m 0700 $(DESTDIR)$(LOCALSTATEDIR)/wyng-qubes

# The source tarball rpmbuild unpacks (Source0 of the spec).
dist: $(BUNDLE) check-release $(THIRD_PARTY)
	@mkdir -p $(RPMBUILD_TOPDIR)/SOURCES
	rm -rf $(BUILDDIR)/$(TARNAME)
	mkdir -p $(BUILDDIR)/$(TARNAME)
	tar -cf - $(DIST_FILES) | tar -xf - -C $(BUILDDIR)/$(TARNAME)
	tar -czf $(RPMBUILD_TOPDIR)/SOURCES/$(TARNAME).tar.gz -C $(BUILDDIR) --owner=0 --group=0 $(TARNAME)
	rm -rf $(BUILDDIR)/$(TARNAME)

# rpm_spec/wyng-qubes.spec.in (Qubes convention) with @VERSION@ filled in, and the bundled npm
# packages (their Provides: lines and licences) as npm run build found them in the bundle.
$(RPMBUILD_TOPDIR)/SPECS/wyng-qubes.spec: rpm_spec/wyng-qubes.spec.in package.json $(BUNDLED_PROVIDES) $(BUNDLED_LICENSES)
	@mkdir -p $(RPMBUILD_TOPDIR)/SPECS
	sed -e 's/@VERSION@/$(VERSION)/g' -e 's/@REL@/1/g' \
		$(if $(PROJECT_URL),-e 's|@URL@|$(PROJECT_URL)|',-e '/^URL:.*@URL@/d') \
		-e "s/@LICENSES@/$$(cat $(BUNDLED_LICENSES))/" \
		-e '/^@BUNDLED_PROVIDES@$$/{r $(BUNDLED_PROVIDES)' -e 'd}' $< > $@

rpm: dist $(RPMBUILD_TOPDIR)/SPECS/wyng-qubes.spec
	@command -v $(RPMBUILD) >/dev/null || { echo "rpmbuild not found (Debian/Ubuntu: apt-get install rpm; Fedora: dnf install rpm-build)" >&2; exit 1; }
	$(RPMBUILD) $(RPMBUILD_FLAGS) --define '_topdir $(RPMBUILD_TOPDIR)' -bb $(RPMBUILD_TOPDIR)/SPECS/wyng-qubes.spec

srpm: dist $(RPMBUILD_TOPDIR)/SPECS/wyng-qubes.spec
	$(RPMBUILD) $(RPMBUILD_FLAGS) --define '_topdir $(RPMBUILD_TOPDIR)' -bs $(RPMBUILD_TOPDIR)/SPECS/wyng-qubes.spec

clean:
	rm -rf $(BUILDDIR)
