import sys

from archiving.cli.main import main

sys.exit(main())
