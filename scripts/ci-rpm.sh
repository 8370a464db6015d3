#!/usr/bin/env bash
# CI step: build the noarch RPM (make rpm) and list its files and requirements.
# Builds the release bundle (npm run build:release: the test-only crash hook compiled out) and
# needs rpmbuild; on Debian/Ubuntu the "rpm" package provides
# rpmbuild (installed here when missing and apt-get is available). The build host's rpm
# database is empty there, so build dependencies are not checked (--nodeps).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v rpmbuild >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq rpm >/dev/null
  else
    echo "rpmbuild is missing (Fedora: dnf install rpm-build)" >&2
    exit 1
  fi
fi
npm run --silent build:release
topdir="$(mktemp -d)"
trap 'rm -rf "$topdir"' EXIT
flags=""
if command -v dpkg >/dev/null 2>&1 && ! rpm -q rpm >/dev/null 2>&1; then flags="--nodeps"; fi
make rpm RPMBUILD_TOPDIR="$topdir" RPMBUILD_FLAGS="$flags" >"$topdir/rpmbuild.log" 2>&1 || { tail -40 "$topdir/rpmbuild.log" >&2; exit 1; }
rpm_file="$(ls "$topdir"/RPMS/noarch/wyng-qubes-*.noarch.rpm)"
echo "Built $(basename "$rpm_file")"
echo "Files:"
rpm -qlvp "$rpm_file"
echo "Requires:"
rpm -qpR "$rpm_file" | grep -v '^rpmlib(' | sort -u
# The package must carry these.
files="$(rpm -qlp "$rpm_file")"
requires="$(rpm -qpR "$rpm_file")"
for path in /usr/bin/wyng-qubes /usr/lib/wyng-qubes/wyng-qubes.mjs /etc/qubes-rpc/wyng.Backup \
  /etc/qubes/policy.d/30-wyng-qubes.policy /etc/wyng-qubes/profiles.yaml \
  '/usr/lib/systemd/system/wyng-qubes-backup@.service' '/usr/lib/systemd/system/wyng-qubes-backup@.timer' \
  /srv/salt/_modules/wyng_qubes.py /srv/salt/_states/wyng_qubes.py \
  /usr/share/bash-completion/completions/wyng-qubes; do
  grep -qx -- "$path" <<<"$files" || { echo "missing in the RPM: $path" >&2; exit 1; }
done
grep -q '^/usr/share/man/man1/wyng-qubes\.1' <<<"$files" || { echo "missing in the RPM: the man page" >&2; exit 1; }
grep -qx 'nodejs >= 18.19' <<<"$requires" || { echo "the RPM does not require nodejs >= 18.19" >&2; exit 1; }
# The shipped program holds no test hook (rpm2cpio: the payload, decompressed).
if rpm2cpio "$rpm_file" | grep -aq 'WYNG_QUBES_TEST'; then
  echo "the RPM carries a test hook (WYNG_QUBES_TEST_*): not a release build" >&2
  exit 1
fi
echo "The RPM carries every expected file and requires nodejs >= 18.19; no test hook."
