#!/usr/bin/env bash
# Refreshes the recorded data under test/data from a newer recording (see test/data/README.md).
#
#   scripts/refresh-test-data.sh [--only wyng|qubesd] [--qubesd-into NAME] [--fixtures DIR] SOURCE
#
# SOURCE is a recording folder laid out like the lab's output:
#   SOURCE/wyng/transcripts/*.json                 → test/data/wyng/transcripts/
#   SOURCE/qubesd/transcripts/*.json, INDEX.md     → test/data/qubesd/transcripts/
#   SOURCE/qubesd/qubes.xml, qubes-after-transcripts.xml,
#   SOURCE/qubesd/wyng-util-qubes-restore-calls.json (if present) → test/data/qubesd/
# --qubesd-into NAME writes the qubesd part to test/data/NAME instead (a second recording set, e.g.
# qubesd-r4.2, which the transcript loaders take as their directory). --fixtures DIR replaces
# test/data/fixtures/qubes-xml with DIR's *.xml. Each part is copied to a temporary folder first and
# swapped in only when complete and every JSON file parses; a missing part is an error unless --only
# leaves it out. Afterwards, run the tests that replay the data (listed at the end).
set -euo pipefail

usage() {
  sed -n '4,5p' "$0" | sed 's/^# *//' >&2
  exit 2
}

only=''
qubesd_into='qubesd'
fixtures=''
while [ $# -gt 0 ]; do
  case "$1" in
    --only)
      [ $# -ge 2 ] || usage
      only="$2"
      shift 2
      ;;
    --qubesd-into)
      [ $# -ge 2 ] || usage
      qubesd_into="$2"
      shift 2
      ;;
    --fixtures)
      [ $# -ge 2 ] || usage
      fixtures="$2"
      shift 2
      ;;
    -h | --help) usage ;;
    --*)
      echo "refresh-test-data: unknown option $1" >&2
      usage
      ;;
    *) break ;;
  esac
done
[ $# -eq 1 ] || usage
src="$1"
case "$only" in '' | wyng | qubesd) ;; *) usage ;; esac
case "$qubesd_into" in
  qubesd | qubesd-[A-Za-z0-9._-]*) ;;
  *)
    echo "refresh-test-data: --qubesd-into must be qubesd or qubesd-<name>" >&2
    exit 2
    ;;
esac
[ -d "$src" ] || {
  echo "refresh-test-data: $src is not a directory" >&2
  exit 2
}

repo="$(cd "$(dirname "$0")/.." && pwd)"
data="$repo/test/data"
stage="$(mktemp -d "$data/.refresh.XXXXXX")"
trap 'rm -rf "$stage"' EXIT

# every JSON file must parse (a truncated recording must not replace a good one)
check_json() {
  node -e '
    const fs = require("node:fs");
    for (const f of process.argv.slice(1)) {
      try {
        JSON.parse(fs.readFileSync(f, "utf8"));
      } catch (e) {
        console.error(`${f}: ${e.message}`);
        process.exit(1);
      }
    }' "$@"
}

# swap a staged folder in place of test/data/<name>
swap() {
  local name="$1"
  rm -rf "$data/$name.old"
  if [ -e "$data/$name" ]; then mv "$data/$name" "$data/$name.old"; fi
  mv "$stage/$name" "$data/$name"
  rm -rf "$data/$name.old"
}

if [ "$only" != qubesd ]; then
  [ -d "$src/wyng/transcripts" ] || {
    echo "refresh-test-data: $src/wyng/transcripts missing" >&2
    exit 1
  }
  mkdir -p "$stage/wyng/transcripts"
  cp "$src"/wyng/transcripts/*.json "$stage/wyng/transcripts/"
  check_json "$stage"/wyng/transcripts/*.json
  [ -f "$stage/wyng/transcripts/index.json" ] || {
    echo "refresh-test-data: $src/wyng/transcripts/index.json missing" >&2
    exit 1
  }
  swap wyng
  banner="$(node -e 'const t = require(process.argv[1]); console.log(t.stdout.split("\n")[0])' \
    "$data/wyng/transcripts/a01-arch-init.json" 2>/dev/null || true)"
  echo "wyng: $(ls "$data/wyng/transcripts" | wc -l) files${banner:+ ($banner)}"
fi

if [ "$only" != wyng ]; then
  for f in transcripts qubes.xml qubes-after-transcripts.xml; do
    [ -e "$src/qubesd/$f" ] || {
      echo "refresh-test-data: $src/qubesd/$f missing" >&2
      exit 1
    }
  done
  mkdir -p "$stage/$qubesd_into/transcripts"
  cp "$src"/qubesd/transcripts/*.json "$stage/$qubesd_into/transcripts/"
  if [ -f "$src/qubesd/transcripts/INDEX.md" ]; then
    cp "$src/qubesd/transcripts/INDEX.md" "$stage/$qubesd_into/transcripts/"
  fi
  cp "$src/qubesd/qubes.xml" "$src/qubesd/qubes-after-transcripts.xml" "$stage/$qubesd_into/"
  if [ -f "$src/qubesd/wyng-util-qubes-restore-calls.json" ]; then
    cp "$src/qubesd/wyng-util-qubes-restore-calls.json" "$stage/$qubesd_into/"
  fi
  shopt -s nullglob
  check_json "$stage/$qubesd_into"/transcripts/*.json "$stage/$qubesd_into"/*.json
  shopt -u nullglob
  swap "$qubesd_into"
  version="$(node -e 'const t = require(process.argv[1]); console.log(t.qubes_core_admin_version ?? "")' \
    "$data/$qubesd_into/transcripts/admin.vm.List.json" 2>/dev/null || true)"
  count="$(ls "$data/$qubesd_into/transcripts" | wc -l)"
  echo "$qubesd_into: $count transcript files${version:+ (qubes-core-admin $version)}"
fi

if [ -n "$fixtures" ]; then
  mkdir -p "$stage/fixtures/qubes-xml"
  cp "$fixtures"/*.xml "$stage/fixtures/qubes-xml/"
  rm -rf "$data/fixtures/qubes-xml"
  mkdir -p "$data/fixtures"
  mv "$stage/fixtures/qubes-xml" "$data/fixtures/qubes-xml"
  echo "fixtures: $(ls "$data/fixtures/qubes-xml" | wc -l) files"
fi

cat <<'EOF'
Now update test/data/README.md (versions, dates) and run the tests that replay the data:
  node --import tsx --test test/conformance/*.test.ts test/unit/qubesapi-*.test.ts test/unit/qubesxml-*.test.ts \
    test/unit/archive-model.test.ts test/unit/wyng-argv.test.ts test/unit/fake-qubesd*.test.ts
EOF
