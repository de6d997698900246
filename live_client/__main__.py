import sys

from live_client.cli import main

sys.exit(main())
