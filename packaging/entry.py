"""Entry point of the PyInstaller bundle: `vg_studio.cli:main`, as the pip-installed `vg-studio` script."""

import multiprocessing
import sys

if __name__ == "__main__":
    # the reproductions run cells in 'spawn' worker processes: in a frozen app those re-enter this script
    multiprocessing.freeze_support()
    from vg_studio.cli import main

    sys.exit(main())
