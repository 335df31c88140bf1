"""``python -m worker.cli``: the same as the ``plugin-db`` console script."""

from worker.cli import main

main()
