#!/usr/bin/env bash
# Creates .venv in the repository root when it is missing: torch first, then everything
# else under .ci/constraints.txt so that no second torch is pulled, then the torchvision
# fix where (and only where) it is needed. Safe to run again: it returns at once when
# .venv/.complete exists.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
[ -f "$venv/.complete" ] && exit 0
start=$(date +%s)
rm -rf "$venv"
python3 -m venv "$venv"
py="$venv/bin/python"
pip=("$py" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" -c "$root/.ci/constraints.txt" torch torchvision
"${pip[@]}" -c "$root/.ci/constraints.txt" -r "$root/requirements-dev.txt"
if ! "$py" -c "import torchvision" >/dev/null 2>&1; then
  site=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  cp "$root/.ci/torchvision_cpu_fix.py" "$site/_twgtm_torchvision_cpu_fix.py"
  echo "import _twgtm_torchvision_cpu_fix" > "$site/_twgtm_torchvision_cpu_fix.pth"
  "$py" -c "import torchvision, timm" || { echo "torchvision still fails to import" >&2; exit 1; }
  echo "venv: installed the torchvision CPU import fix"
fi
touch "$venv/.complete"
echo "venv: ready in $(( $(date +%s) - start )) s, $(du -sh "$venv" | cut -f1)"
