"""``python -m driftcaps.cli`` runs the ``driftcaps`` command line."""

from driftcaps.cli import main

main()
