#!/usr/bin/env bash
# Build the Linux one-folder bundle: dist/vg-studio/vg-studio (run from anywhere; needs `pip install -e ".[bundle]"`).
#   packaging/build_bundle.sh            CPU-only bundle
#   VG_BUNDLE_CUDA=1 packaging/build_bundle.sh   keep TensorFlow's CUDA libraries (about 4 GB more)
# Then: dist/vg-studio/vg-studio --version; dist/vg-studio/vg-studio (the GUI); .../vg-studio --install-desktop-entry
set -euo pipefail
cd "$(dirname "$0")/.."
python -m PyInstaller --version >/dev/null 2>&1 || { echo "PyInstaller missing: pip install -e '.[bundle]'" >&2; exit 2; }
start=$(date +%s)
python -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/vg-studio.spec
echo "built dist/vg-studio in $(( $(date +%s) - start )) s, $(du -sh dist/vg-studio | cut -f1)"
dist/vg-studio/vg-studio --version
