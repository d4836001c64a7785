"""``python -m ankigen``: the same commands as the ``ankigen`` script."""

from ankigen.cli import main

main()
