# Sourced by scripts/serve, scripts/test, scripts/lock and .ci/run (not run on its own): which
# Python to use, and a virtualenv that holds exactly the locked versions.
#
#   PYTHON=python3.13 scripts/test   use that Python (default: 3.11, else the newest supported)
#   VENV=.venv-3.13 scripts/test     use that virtualenv folder (default: .venv)

# Keep in step with requires-python in pyproject.toml.
SUPPORTED_PYTHONS="3.11 3.12 3.13"

say() { echo "$*" >&2; }

# The X.Y version of the Python at $1, or nothing when it does not run.
python_version() {
  "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

is_supported() { [[ " $SUPPORTED_PYTHONS " == *" $1 "* ]]; }

# A working pythonX.Y for version $1: on PATH, else one that pyenv has installed but not selected
# (its shim then refuses to run it).
find_python() {
  local candidate
  for candidate in "$(command -v "python$1" || true)" \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1"*/bin/"python$1"; do
    if [ -x "$candidate" ] && [ "$(python_version "$candidate")" = "$1" ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

newest_python() {
  local version
  for version in $(echo "$SUPPORTED_PYTHONS" | tr ' ' '\n' | sort -rV); do
    find_python "$version" && return 0
  done
  return 1
}

# $PYTHON when set (and supported), else 3.11, else the newest supported one installed.
choose_python() {
  local chosen version
  if [ -n "${PYTHON:-}" ]; then
    # PYTHON=python3.12 also finds a pyenv-installed 3.12 that is not the selected version.
    if ! [[ "$PYTHON" =~ ^python(3\.[0-9]+)$ ]] || ! chosen="$(find_python "${BASH_REMATCH[1]}")"; then
      chosen="$(command -v "$PYTHON" || true)"
    fi
    version="$(python_version "${chosen:-$PYTHON}")"
    if ! is_supported "$version"; then
      say "PYTHON=$PYTHON is ${version:+Python }${version:-not a Python that runs}: this project supports Python $SUPPORTED_PYTHONS."
      return 1
    fi
    echo "$chosen"
  elif ! find_python 3.11 && ! newest_python; then
    say "No supported Python found (need one of $SUPPORTED_PYTHONS): install one or set PYTHON."
    return 1
  fi
}

# Remove the virtualenv $1 when a different Python than $2 made it (or one that no longer runs or is
# not supported): installing into it would fail on every run until someone deletes it by hand.
drop_mismatched_venv() {
  local venv="$1" want have
  [ -e "$venv" ] || return 0
  want="$(python_version "$2")"
  have="$(python_version "$venv/bin/python")"
  [ "$have" = "$want" ] && return 0
  if [ -z "$have" ]; then
    say "Rebuilding $venv: the Python that made it no longer runs; using Python $want."
  elif ! is_supported "$have"; then
    say "Rebuilding $venv: it was made by Python $have, which this project does not support; using Python $want."
  else
    say "Rebuilding $venv: it was made by Python $have, this run uses Python $want (set PYTHON to choose)."
  fi
  rm -rf "$venv"
}

# A virtualenv at $1 (made by Python $2) holding the versions locked in $3 (requirements.txt or
# requirements-dev.txt) and the project, editable. Does nothing when it already does: the stamp
# records which lock files (and pyproject.toml) it was last installed from.
ensure_venv() {
  local venv="$1" python="$2" lock="$3"
  drop_mismatched_venv "$venv" "$python"
  grep -qxF "$(lock_key "$lock")" "$venv/.locked" 2>/dev/null && return 0
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  say "Installing the locked versions from $lock into $venv (Python $(python_version "$python"))."
  local pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
  "${pip[@]}" --require-hashes -r "$lock"
  "${pip[@]}" --no-deps -e .
  lock_key "$lock" >>"$venv/.locked"
  # requirements-dev.txt is compiled with -c requirements.txt: the same versions, and more.
  [ "$lock" != requirements-dev.txt ] || lock_key requirements.txt >>"$venv/.locked"
}

lock_key() { echo "$(cat "$1" pyproject.toml | sha256sum | cut -d' ' -f1) $1"; }

# uv (pinned by hash in scripts/uv-requirements.txt) in .venv-uv, for writing and checking locks.
ensure_uv() {
  UV=.venv-uv/bin/uv
  cmp -s scripts/uv-requirements.txt .venv-uv/uv-requirements.txt && return 0
  local python
  python="$(choose_python)"
  rm -rf .venv-uv
  "$python" -m venv .venv-uv
  .venv-uv/bin/python -m pip install -q --disable-pip-version-check --require-hashes \
    -r scripts/uv-requirements.txt
  cp scripts/uv-requirements.txt .venv-uv/uv-requirements.txt
}
