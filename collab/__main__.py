"""``python -m collab``: the ``collab`` command (:func:`collab.cli.main`)."""

from collab.cli import main

raise SystemExit(main())
