"""Runs the `hint` command line from a checkout: `python main.py --config config.yaml`.

The same as the `hint` console script that installing the package adds; see `hint.cli`.
"""

import sys

from hint.cli import main

if __name__ == "__main__":
    sys.exit(main())
