"""Entry point of the PyInstaller bundle: `vg_studio.cli:main`, as the pip-installed `vg-studio` script."""

import multiprocessing
import sys

if __name__ == "__main__":
    # the reproductions run cells in 'spawn' worker processes: in a frozen app those re-enter this script
    multiprocessing.freeze_support()
    if sys.argv[1:2] == ["--vg-studio-runner"]:  # the app's training process (vg_studio.runner.child_command)
        from vg_studio.runner import main as runner_main

        sys.exit(runner_main(sys.argv[2:]))
    from vg_studio.cli import main

    sys.exit(main())
