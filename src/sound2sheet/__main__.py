import sys

from sound2sheet.cli import main

sys.exit(main())
