"""`python -m rawtune ...` (what `accelerate launch -m rawtune` runs): the same as the `rawtune` command."""

import sys

from rawtune.cli.main import main

sys.exit(main())
