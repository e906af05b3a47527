# Sourced by the scripts beside it: make .venv hold exactly what the given requirements file pins.
# Installs again only when that file changed, so later runs start at once.
ensure_environment() {
  local requirements="$1"
  local python="${PYTHON:-python3}"
  if [ ! -x .venv/bin/python ]; then
    echo "Creating the virtual environment in .venv ..."
    "$python" -m venv .venv
  fi
  local stamp=".venv/.installed-$(basename "$requirements")"
  local wanted
  wanted="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    echo "Installing Python packages from $requirements ..."
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted" > "$stamp"
  fi
}

# Make `folder`/node_modules hold exactly what its package-lock.json pins (the browser tests'
# axe-core). Installs again only when the lock changed; without npm, says so and goes on.
ensure_node_packages() {
  local folder="$1"
  local stamp="$folder/node_modules/.installed-package-lock"
  local wanted
  wanted="$(sha256sum "$folder/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    echo "npm is missing, so the accessibility checks cannot run (apt-get install npm)." >&2
    return 0
  fi
  echo "Installing Node packages from $folder/package-lock.json ..."
  (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$wanted" > "$stamp"
}
