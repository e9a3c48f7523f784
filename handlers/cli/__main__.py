"""``python -m handlers.cli``: the ``incident`` command without the installed script."""

import sys

from handlers.cli.main import main

sys.exit(main())
