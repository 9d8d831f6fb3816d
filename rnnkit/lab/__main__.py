import sys

from rnnkit.lab import main

sys.exit(main())
