# Sourced by scripts/run and scripts/check (from the repository root):
#   ensure_venv        incidentbot and its dependencies in .venv
#   ensure_venv dev    the same with the development tools (tests, linters)
#
# Installs only when needed: .venv/.incidentbot-<run|dev> holds the hash of pyproject.toml
# and constraints.txt from the last install, so a start with an up-to-date .venv never
# runs pip (and works with the package index unreachable). Without a matching stamp, a
# .venv that already holds exactly what constraints.txt pins is accepted as it is
# (scripts/venv_ok.py reads installed metadata only); otherwise it is installed, with
# progress shown, every version pinned by constraints.txt (uv when on PATH, else pip).
# constraints.txt is regenerated with scripts/lock.

ensure_venv() {
  local extra=${1:-} py=${PYTHON:-python3} kind=run spec=.
  if [ -n "$extra" ]; then kind=$extra; spec=".[$extra]"; fi
  if [ ! -x .venv/bin/python ]; then
    echo "Creating .venv with $("$py" --version 2>&1) ..." >&2
    "$py" -m venv .venv
  fi
  local hash
  hash=$(cat pyproject.toml constraints.txt | .venv/bin/python -c \
    'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')
  # A dev install includes everything a plain run needs.
  local stamp
  for stamp in ".venv/.incidentbot-$kind" .venv/.incidentbot-dev; do
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then
      return 0
    fi
  done
  if .venv/bin/python scripts/venv_ok.py $extra < constraints.txt 2>/dev/null; then
    echo "$hash" > ".venv/.incidentbot-$kind"
    return 0
  fi
  echo "Installing incidentbot${extra:+ with its $extra tools} into .venv" \
    "(versions pinned by constraints.txt; only when they change) ..." >&2
  local ok=0
  if command -v uv >/dev/null 2>&1; then
    uv pip install --python .venv/bin/python --constraint constraints.txt \
      --build-constraint constraints.txt -e "$spec" || ok=$?
  else
    # PIP_CONSTRAINT (not only -c) so the isolated build of the project is pinned as well.
    PIP_CONSTRAINT="$PWD/constraints.txt" .venv/bin/python -m pip install \
      --disable-pip-version-check --progress-bar on -e "$spec" || ok=$?
  fi
  if [ "$ok" -ne 0 ]; then
    echo "$0: installing the dependencies into .venv failed (see above; is the package" \
      "index reachable?)" >&2
    return 1
  fi
  echo "$hash" > ".venv/.incidentbot-$kind"
}
