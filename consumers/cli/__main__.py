"""`python -m consumers.cli`: the `cdrflow` command."""

import sys

from consumers.cli.main import main

sys.exit(main())
