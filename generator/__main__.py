"""``python -m generator``: the same as the ``flughafen-gen`` command."""

import sys

from generator.cli import main

sys.exit(main())
