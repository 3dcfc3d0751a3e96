import sys

from relmask.cli import main

sys.exit(main())
