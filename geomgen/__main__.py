import sys

from geomgen.cli import main

sys.exit(main())
